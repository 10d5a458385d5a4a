import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { testConfig } from '../support/app.js';
import { createLogger } from '../../src/logger.js';

let app: FastifyInstance;

beforeAll(async () => {
  app = await buildApp(testConfig(), { log: createLogger({ level: 'silent' }), collectors: [], notifiers: [] });
});
afterAll(async () => {
  await app.close();
});

describe('Swagger UI at /docs', () => {
  it('serves the UI page, and every script, stylesheet and icon it links answers 200 (no blank page)', async () => {
    const page = await app.inject({ url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('<div id="swagger-ui">');
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toEqual(expect.arrayContaining(['/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-initializer.js']));
    for (const asset of assets) {
      const res = await app.inject({ url: asset });
      expect({ asset, status: res.statusCode }).toEqual({ asset, status: 200 });
      expect(res.body.length).toBeGreaterThan(0);
    }
  });

  it('renders the same OpenAPI document as GET /openapi.json', async () => {
    const initializer = await app.inject({ url: '/docs/static/swagger-initializer.js' });
    expect(initializer.body).toContain("resolveUrl('./json')");
    const uiDoc = await app.inject({ url: '/docs/json' });
    const servedDoc = await app.inject({ url: '/openapi.json' });
    expect(uiDoc.statusCode).toBe(200);
    expect(uiDoc.json()).toEqual(servedDoc.json());
  });

  it('keeps its own routes out of the OpenAPI document, so openapi/openapi.json does not change', async () => {
    const doc = (await app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/docs'))).toEqual([]);
    expect(Object.keys(doc.paths)).toContain('/healthz');
  });

  it('answers an unknown asset with the API error shape, not a stack trace', async () => {
    const res = await app.inject({ url: '/docs/static/no-such-file.js' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: expect.any(String), message: expect.any(String) });
  });
});
