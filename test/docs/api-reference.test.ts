import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../routes/errors.js';
import { currentOpenApi, fieldRows, renderApiDocs, undocumented, type OpenApiDoc } from '../../scripts/write-api-docs.js';

const API_MD = new URL('../../docs/api.md', import.meta.url);

describe('docs/api.md is the OpenAPI document, in prose (a field or an error code cannot drift)', () => {
  it('its generated parts are what the server serves now (run `npm run api-docs` after changing a route)', async () => {
    const text = readFileSync(API_MD, 'utf8');
    expect(text).toBe(renderApiDocs(text, await currentOpenApi()));
  });

  it('has a part for every route, every schema and the error codes', async () => {
    expect(undocumented(readFileSync(API_MD, 'utf8'), await currentOpenApi())).toEqual([]);
  });

  it('lists every error code the server can send, and only those', () => {
    const text = readFileSync(API_MD, 'utf8');
    const listed = [...text.matchAll(/^\| (\d{3}) \| `([a-z_]+)` \|/gm)].map((m) => [Number(m[1]), m[2]]);
    expect(listed).toEqual(Object.entries(ERROR_CODES).map(([code, e]) => [e.status, code]));
  });

  it('shows the fields live runs carry (they were missing: queued_at, signal, strategy, previous_id, run_as, waiting_cpu_pressure, started_under_pressure, receipt.survivors)', () => {
    const text = readFileSync(API_MD, 'utf8');
    const retestRun = text.slice(
      text.indexOf('<!-- api-docs: schema RetestRun -->'),
      text.indexOf('<!-- api-docs: schema MergeGateCounters -->'),
    );
    for (const field of [
      'queued_at',
      'signal?',
      'strategy?',
      'previous_id?',
      'run_as?',
      'waiting_cpu_pressure?',
      'started_under_pressure?',
      'receipt.survivors',
    ]) {
      expect(retestRun).toContain(`| \`${field}\` |`);
    }
    expect(text).toMatch(/\| `failed_collectors` \|/);
    expect(text).toMatch(/\| `pgid` \|/);
  });
});

describe('the generator catches drift (so the checks above can fail)', () => {
  const doc: OpenApiDoc = {
    paths: {
      '/x': {
        get: {
          summary: 'X',
          responses: { '200': { description: 'ok', content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } } } },
        },
      },
    },
    components: { schemas: { Thing: { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] } } },
  };

  it('a field added to a schema changes the part, so a stale docs/api.md fails the first check', () => {
    const md = '<!-- api-docs: schema Thing -->\n<!-- /api-docs -->\n';
    const before = renderApiDocs(md, doc);
    const withField = structuredClone(doc);
    withField.components.schemas.Thing!.properties!.env = { type: 'object', description: 'extra variables' };
    const after = renderApiDocs(before, withField);
    expect(after).not.toBe(before);
    expect(after).toContain('| `env?` | `object` | extra variables |');
  });

  it('a route or schema without a part is reported, and a part for a route that is gone is an error', () => {
    expect(undocumented('', doc)).toEqual(['route GET /x', 'schema Thing', 'errors']);
    expect(() => renderApiDocs('<!-- api-docs: route GET /gone -->\n<!-- /api-docs -->', doc)).toThrow(/GET \/gone/);
  });

  it('renders nested objects and arrays of objects as dotted rows', () => {
    const rows = fieldRows({
      type: 'object',
      required: ['receipt'],
      properties: {
        receipt: {
          type: 'object',
          required: ['survivors'],
          properties: {
            survivors: { type: 'array', items: { type: 'object', required: ['pid'], properties: { pid: { type: 'integer' } } } },
          },
        },
      },
    });
    expect(rows).toEqual([
      '| `receipt` | `object` |  |',
      '| `receipt.survivors` | array of `object` |  |',
      '| `receipt.survivors[].pid` | `integer` |  |',
    ]);
  });
});
