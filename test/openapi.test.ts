import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderOpenApi } from '../scripts/write-openapi.js';
import { testApp } from './support/app.js';

describe('the OpenAPI document', () => {
  it('the committed openapi/openapi.json matches what the server serves (run `npm run openapi` after changing a route)', async () => {
    const committed = readFileSync(new URL('../openapi/openapi.json', import.meta.url), 'utf8');
    expect(JSON.parse(committed)).toEqual(JSON.parse(await renderOpenApi()));
  });

  it('is served at /openapi.json and lists every GET route of CONTRACT §3 with a 200 response schema', async () => {
    const app = await testApp();
    const res = await app.inject('/openapi.json');
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    for (const path of ['/healthz', '/signals', '/alert-states', '/metrics']) {
      const schema = doc.paths[path]?.get?.responses?.['200']?.content;
      expect(schema, path).toBeDefined();
    }
    await app.close();
  });
});
