import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { VERSION } from '../src/version.js';

/** The groups /docs shows, in this order, each with the paths (and their sub-paths) it holds: a new route is grouped by its path. */
export const API_TAGS = [
  { name: 'observe', description: 'What the last tick saw: signals and alert states', paths: ['/signals', '/alert-states'] },
  { name: 'processes', description: 'The /proc scan: long-lived test processes, and terminating one', paths: ['/proc'] },
  { name: 'merge gate', description: 'Re-tests that leave no process behind, and their queue', paths: ['/merge-gate', '/queue'] },
  { name: 'operations', description: 'Liveness and Prometheus metrics', paths: ['/healthz', '/metrics'] },
] as const;

type Schemas = Record<string, unknown>;
const REF_PREFIX = '#/components/schemas/';

/** Component names `value` references, directly. */
const refsIn = (value: unknown): string[] =>
  [...(JSON.stringify(value) ?? '').matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);

/** fastify-type-provider-zod emits every schema as `X` and `XInput`; keep what the paths reach, both only when both differ. */
function mergeIoSchemas<D extends { paths?: unknown; components?: { schemas?: Schemas } }>(doc: D): D {
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
  // an `XInput` whose `X` is not reached is the only one: it keeps the plain name
  const rename = (name: string) => (name.endsWith('Input') && !reached.has(name.slice(0, -5)) ? name.slice(0, -5) : name);
  const kept: Schemas = {};
  // Sorted, so openapi/openapi.json does not churn with route registration order.
  for (const name of [...reached].sort()) kept[rename(name)] = schemas[name];
  return JSON.parse(JSON.stringify({ ...doc, components: { ...doc.components, schemas: kept } }), (key, v: unknown) =>
    key === '$ref' && typeof v === 'string' && v.startsWith(REF_PREFIX) ? REF_PREFIX + rename(v.slice(REF_PREFIX.length)) : v,
  ) as D;
}

/** The OpenAPI document (GET /openapi.json): routes grouped by tag, each zod schema once (not as X and XInput); and /docs. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'orch-watchdog',
        description: 'Watchdog for an orchestrator of dev-pipeline agents, and the merge-gate re-test runner.',
        version: VERSION,
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
    transform: (input) => {
      const out = jsonSchemaTransform(input);
      const schema = out.schema as { hide?: boolean; tags?: string[] };
      const tag = API_TAGS.find((t) => t.paths.some((path) => out.url === path || out.url.startsWith(`${path}/`)));
      if (!schema.hide && schema.tags === undefined && tag !== undefined) schema.tags = [tag.name];
      return out;
    },
    transformObject: (input) => {
      const doc = jsonSchemaTransformObject(input) as { paths?: unknown; components?: { schemas?: Schemas } };
      const tags = API_TAGS.map(({ name, description }) => ({ name, description }));
      return mergeIoSchemas({ ...doc, tags }) as ReturnType<typeof jsonSchemaTransformObject>;
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  docsRoutes(app);
}

/** The outer reply sets its own framing. */
const FRAMING_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive']);

/** The UI (~2 MB of RSS) loads on the first /docs request into an inner instance: a watchdog nobody browses never pays for it. */
function docsRoutes(app: FastifyInstance): void {
  let ui: Promise<FastifyInstance> | null = null;
  const forward = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    ui ??= buildUi(app).catch((err: unknown) => {
      ui = null;
      throw err;
    });
    const res = await (await ui).inject({ method: req.method as 'GET' | 'HEAD', url: req.url, headers: req.headers });
    // the API's own 404 shape, not the inner instance's
    if (res.statusCode === 404) {
      reply.callNotFound();
      return reply;
    }
    for (const [name, value] of Object.entries(res.headers))
      if (value !== undefined && !FRAMING_HEADERS.has(name)) reply.header(name, value);
    return reply.code(res.statusCode).send(res.rawPayload);
  };
  app.get('/docs', { schema: { hide: true } }, forward);
  app.get('/docs/*', { schema: { hide: true } }, forward);
  app.addHook('onClose', async () => {
    await (await ui?.catch(() => null))?.close();
  });
}

async function buildUi(app: FastifyInstance): Promise<FastifyInstance> {
  const { default: swaggerUi } = await import('@fastify/swagger-ui');
  const ui = Fastify();
  // the outer app's generated document, served as it is (its routes are final once the app is ready)
  await ui.register(fastifySwagger, { mode: 'static', specification: { document: app.swagger() as never } });
  await ui.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true } });
  await ui.ready();
  return ui;
}
