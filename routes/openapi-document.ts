import type { SwaggerTransform, SwaggerTransformObject } from '@fastify/swagger';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';

/** The groups /docs shows, in this order; every documented route belongs to exactly one. */
export const API_TAGS = [
  { name: 'observe', description: 'What the last tick saw: signals and alert states' },
  { name: 'processes', description: 'The /proc scan: long-lived test processes, and terminating one' },
  { name: 'merge gate', description: 'Re-tests that leave no process behind, and their queue' },
  { name: 'operations', description: 'Liveness and Prometheus metrics' },
] as const;

export type ApiTag = (typeof API_TAGS)[number]['name'];

// By path, in one place, so a route added to a plugin later is grouped without remembering to tag it.
const TAG_BY_PATH: readonly (readonly [string, ApiTag])[] = [
  ['/signals', 'observe'],
  ['/alert-states', 'observe'],
  ['/proc', 'processes'],
  ['/merge-gate', 'merge gate'],
  ['/queue', 'merge gate'],
  ['/healthz', 'operations'],
  ['/metrics', 'operations'],
];

/** The tag of a route URL: the entry whose path is the URL or a parent of it; undefined when none is. */
export function tagFor(url: string): ApiTag | undefined {
  return TAG_BY_PATH.find(([path]) => url === path || url.startsWith(`${path}/`))?.[1];
}

/** The zod transform, plus the route's group when it names none itself. */
export const transformRoute: SwaggerTransform = (input) => {
  const out = jsonSchemaTransform(input);
  const schema = out.schema as { hide?: boolean; tags?: string[] };
  const tag = tagFor(out.url);
  if (!schema.hide && schema.tags === undefined && tag !== undefined) schema.tags = [tag];
  return out;
};

type Schemas = Record<string, unknown>;
const REF_PREFIX = '#/components/schemas/';

/** Component names `value` references, directly. */
function refsIn(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) refsIn(v, found);
  else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === '$ref' && typeof v === 'string' && v.startsWith(REF_PREFIX)) found.add(v.slice(REF_PREFIX.length));
      else refsIn(v, found);
    }
  }
  return found;
}

function renameRefs<T>(value: T, rename: Map<string, string>): T {
  return JSON.parse(JSON.stringify(value), (key, v: unknown) =>
    key === '$ref' && typeof v === 'string' && v.startsWith(REF_PREFIX)
      ? REF_PREFIX + (rename.get(v.slice(REF_PREFIX.length)) ?? v.slice(REF_PREFIX.length))
      : v,
  ) as T;
}

/** fastify-type-provider-zod emits every schema as `X` and `XInput`; keep what the paths reach, both only when both differ. */
export function mergeIoSchemas<D extends { paths?: unknown; components?: { schemas?: Schemas } }>(doc: D): D {
  const schemas = doc.components?.schemas;
  if (!schemas) return doc;
  const reached = new Set<string>();
  const todo = [...refsIn(doc.paths)];
  while (todo.length > 0) {
    const name = todo.pop()!;
    if (reached.has(name) || !(name in schemas)) continue;
    reached.add(name);
    todo.push(...refsIn(schemas[name]));
  }
  const rename = new Map<string, string>();
  for (const name of reached) {
    const base = name.endsWith('Input') ? name.slice(0, -'Input'.length) : null;
    if (base !== null && !reached.has(base)) rename.set(name, base);
  }
  const kept: Schemas = {};
  // Sorted, so openapi/openapi.json does not churn with route registration order.
  for (const name of [...reached].sort()) kept[rename.get(name) ?? name] = schemas[name];
  return renameRefs({ ...doc, components: { ...doc.components, schemas: kept } }, rename);
}

/** The zod components, each once, and the tag list in display order. */
export const transformDocument: SwaggerTransformObject = (input) => {
  const doc = jsonSchemaTransformObject(input) as { paths?: unknown; components?: { schemas?: Schemas }; tags?: unknown };
  return mergeIoSchemas({ ...doc, tags: API_TAGS.map((t) => ({ ...t })) }) as ReturnType<SwaggerTransformObject>;
};
