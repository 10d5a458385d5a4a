/** The part of JSON Schema the OpenAPI document uses (zod's output): enough to check a documented example against it. */
export interface Schema {
  $ref?: string;
  type?: string;
  enum?: unknown[];
  nullable?: boolean;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean;
  items?: Schema;
  anyOf?: Schema[];
  allOf?: Schema[];
}

const typeOfValue = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' && Number.isInteger(v) ? 'integer' : typeof v;

/** Why `value` does not fit `schema` (empty when it does); `$ref`s resolve in `components`. */
export function schemaErrors(value: unknown, schema: Schema, components: Record<string, Schema>, at = '$'): string[] {
  if (schema.$ref) return schemaErrors(value, components[schema.$ref.split('/').pop()!] ?? {}, components, at);
  if (value === null && schema.nullable) return [];
  if (schema.allOf) return schema.allOf.flatMap((s) => schemaErrors(value, s, components, at));
  if (schema.anyOf) {
    const tries = schema.anyOf.map((s) => schemaErrors(value, s, components, at));
    return tries.some((e) => e.length === 0)
      ? []
      : [`${at}: fits none of ${schema.anyOf.length} alternatives (${tries.map((e) => e[0]).join('; ')})`];
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    return [`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`];
  const actual = typeOfValue(value);
  if (schema.type && !(actual === schema.type || (schema.type === 'number' && actual === 'integer')))
    return [`${at}: expected ${schema.type}, got ${actual}`];
  if (schema.type === 'array')
    return (value as unknown[]).flatMap((v, i) => schemaErrors(v, schema.items ?? {}, components, `${at}[${i}]`));
  if (schema.type !== 'object') return [];
  const obj = value as Record<string, unknown>;
  const errors = (schema.required ?? []).filter((k) => !(k in obj)).map((k) => `${at}.${k}: missing`);
  for (const [k, v] of Object.entries(obj)) {
    const field = schema.properties?.[k];
    if (field) errors.push(...schemaErrors(v, field, components, `${at}.${k}`));
    else if (schema.additionalProperties === false) errors.push(`${at}.${k}: not a field of this schema`);
  }
  return errors;
}
