import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../routes/errors.js';
import { renderOpenApi } from './write-openapi.js';

/**
 * Rewrites the generated parts of docs/api.md from the OpenAPI document (the zod schemas in
 * routes/) and the error codes (routes/errors.ts), so a field or a code cannot drift from what
 * the server sends. Each part sits between `<!-- api-docs: WHAT -->` and `<!-- /api-docs -->`;
 * WHAT is `errors`, `route METHOD /path` or `schema Name`. The prose around them is hand-written.
 */

export interface JsonSchema {
  $ref?: string;
  type?: string;
  enum?: unknown[];
  nullable?: boolean;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
}

interface Operation {
  summary?: string;
  description?: string;
  security?: unknown[];
  parameters?: { in: string; name: string; schema: JsonSchema }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: JsonSchema }> }>;
}

export interface OpenApiDoc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, JsonSchema> };
}

const BLOCK = /<!-- api-docs: (.+?) -->\n[\s\S]*?<!-- \/api-docs -->/g;
const refName = (ref: string): string => ref.slice(ref.lastIndexOf('/') + 1);
const link = (name: string): string => `[${name}](#${name.toLowerCase()})`;
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** A schema's type in one cell: `"a"` \| `"b"`, `integer`, [Signal](#signal), `[string]`, `object`. */
export function typeOf(s: JsonSchema): string {
  const orNull = (t: string) => (s.nullable ? `${t} \\| \`null\`` : t);
  if (s.$ref) return orNull(link(refName(s.$ref)));
  if (s.allOf?.length === 1 && s.allOf[0]?.$ref) return orNull(link(refName(s.allOf[0].$ref)));
  if (s.anyOf) return orNull(s.anyOf.map((a) => (a.type === 'object' ? inlineObject(a) : typeOf(a))).join(' \\| '));
  if (s.enum) return orNull(s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| '));
  if (s.type === 'array') return orNull(`array of ${s.items?.type === 'object' ? '`object`' : typeOf(s.items ?? {})}`);
  return orNull(`\`${s.type ?? 'any'}\``);
}

/** `{kind: "retest", id}`: an object inside a union, on one line. */
function inlineObject(s: JsonSchema): string {
  const fields = Object.entries(s.properties ?? {}).map(([name, p]) =>
    p.enum?.length === 1 ? `${name}: ${JSON.stringify(p.enum[0])}` : name,
  );
  return `\`{${fields.join(', ')}}\``;
}

/** One row per field; nested objects and arrays of objects become `parent.child` and `parent[].child` rows. */
export function fieldRows(s: JsonSchema, prefix = ''): string[] {
  const rows: string[] = [];
  const required = new Set(s.required ?? []);
  for (const [name, field] of Object.entries(s.properties ?? {})) {
    const path = `${prefix}${name}${required.has(name) ? '' : '?'}`;
    rows.push(`| \`${path}\` | ${typeOf(field)} | ${cell(field.description ?? '')} |`);
    if (field.type === 'object') rows.push(...fieldRows(field, `${prefix}${name}.`));
    if (field.type === 'array' && field.items?.type === 'object') rows.push(...fieldRows(field.items, `${prefix}${name}[].`));
  }
  return rows;
}

function fieldTable(s: JsonSchema): string {
  return ['| field | type | meaning |', '| --- | --- | --- |', ...fieldRows(s)].join('\n');
}

function errorTable(): string {
  const rows = Object.entries(ERROR_CODES).map(([code, e]) => `| ${e.status} | \`${code}\` | ${cell(e.when)} |`);
  return ['| status | `error` | when |', '| --- | --- | --- |', ...rows].join('\n');
}

function schemaOfBody(content: Record<string, { schema: JsonSchema }> | undefined): JsonSchema | undefined {
  return content?.['application/json']?.schema;
}

/** What a route answers: status, then the schema (linked) or the error codes the status carries. */
function responseLine(status: string, r: Operation['responses'][string]): string {
  const body = schemaOfBody(r.content);
  const codes = [...r.description.matchAll(/`([a-z_]+)`: /g)].map((m) => `\`${m[1]}\``);
  if (codes.length > 0) return `\`${status}\` ${codes.join(', ')}`;
  if (!body) return `\`${status}\` ${r.content ? Object.keys(r.content).join(', ') : ''}`.trimEnd();
  return `\`${status}\` ${body.type === 'object' ? 'the fields below' : typeOf(body)}`;
}

function routePart(doc: OpenApiDoc, method: string, path: string): string {
  const op = doc.paths[path]?.[method.toLowerCase()];
  if (!op) throw new Error(`docs/api.md documents ${method} ${path}, which the OpenAPI document does not have`);
  const facts = [op.security ? '**Auth:** bearer token.' : '**Auth:** none.'];
  for (const p of op.parameters ?? []) facts.push(`**${p.in === 'path' ? 'Path' : p.in}:** \`${p.name}\` ${typeOf(p.schema)}.`);
  const request = schemaOfBody(op.requestBody?.content);
  if (request) facts.push(`**Body:** ${typeOf(request)}.`);
  facts.push(
    `**Answers:** ${Object.entries(op.responses)
      .map(([status, r]) => responseLine(status, r))
      .join(' · ')}.`,
  );
  const parts = [
    [op.summary, op.description]
      .filter(Boolean)
      .map((t) => t!.replace(/\.?$/, '.'))
      .join(' '),
    facts.join(' '),
  ];
  const inline = Object.values(op.responses)
    .map((r) => schemaOfBody(r.content))
    .find((s) => s?.type === 'object');
  if (inline) parts.push(fieldTable(inline));
  return parts.join('\n\n');
}

function schemaPart(doc: OpenApiDoc, name: string): string {
  const s = doc.components.schemas[name];
  if (!s) throw new Error(`docs/api.md documents the schema ${name}, which the OpenAPI document does not have`);
  const head = s.description ? `${s.description}\n\n` : '';
  if (s.anyOf) return `${head}One of: ${typeOf(s)}.`;
  return `${head}${fieldTable(s)}`;
}

/** docs/api.md with every generated part rewritten from `doc`. */
export function renderApiDocs(markdown: string, doc: OpenApiDoc): string {
  return markdown.replace(BLOCK, (_all, what: string) => {
    const [kind = '', ...rest] = what.trim().split(/\s+/);
    let body: string;
    if (kind === 'errors') body = errorTable();
    else if (kind === 'route') body = routePart(doc, rest[0] ?? '', rest[1] ?? '');
    else if (kind === 'schema') body = schemaPart(doc, rest[0] ?? '');
    else throw new Error(`unknown api-docs part "${what}"`);
    return `<!-- api-docs: ${what} -->\n${body}\n<!-- /api-docs -->`;
  });
}

/** Routes and schemas of the document that docs/api.md has no generated part for. */
export function undocumented(markdown: string, doc: OpenApiDoc): string[] {
  const parts = new Set([...markdown.matchAll(BLOCK)].map((m) => m[1]!.trim().replace(/\s+/g, ' ')));
  const routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `route ${m.toUpperCase()} ${path}`));
  const schemas = Object.keys(doc.components.schemas).map((name) => `schema ${name}`);
  return [...routes, ...schemas, 'errors'].filter((p) => !parts.has(p));
}

export async function currentOpenApi(): Promise<OpenApiDoc> {
  return JSON.parse(await renderOpenApi()) as OpenApiDoc;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = new URL('../../docs/api.md', import.meta.url);
  const doc = await currentOpenApi();
  const text = renderApiDocs(readFileSync(target, 'utf8'), doc);
  writeFileSync(target, text);
  const missing = undocumented(text, doc);
  if (missing.length > 0) console.error(`docs/api.md has no part for: ${missing.join(', ')} (add <!-- api-docs: … --><!-- /api-docs -->)`);
  console.log(`wrote ${fileURLToPath(target)}`);
  process.exitCode = missing.length > 0 ? 1 : 0;
}
