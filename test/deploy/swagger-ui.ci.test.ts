import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TAGS } from '../../routes/openapi.js';
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
    const doc = (await app.inject({ url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/docs'))).toEqual([]);
    expect(Object.keys(doc.paths)).toContain('/healthz');
  });

  it('answers an unknown asset with the API error shape, not a stack trace', async () => {
    const res = await app.inject({ url: '/docs/static/no-such-file.js' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: expect.any(String), message: expect.any(String) });
  });
});

interface OpenApiDoc {
  paths: Record<string, Record<string, { tags?: string[] }>>;
  components: { schemas: Record<string, unknown> };
  tags: { name: string }[];
}

describe('the OpenAPI document behind /docs', () => {
  let doc: OpenApiDoc;
  beforeAll(async () => {
    doc = (await app.inject({ url: '/openapi.json' })).json<OpenApiDoc>();
  });

  it('puts every operation in exactly one of the four groups (observe, processes, merge gate, operations), none untagged', () => {
    expect(doc.tags.map((t) => t.name)).toEqual(['observe', 'processes', 'merge gate', 'operations']);
    const wrong = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => op.tags?.length !== 1 || !API_TAGS.some((t) => t.name === op.tags![0]))
        .map(([method]) => `${method} ${path}: ${JSON.stringify(ops[method]!.tags)}`),
    );
    expect(wrong).toEqual([]);
  });

  it('lists each schema once: no XInput twin of X, nothing unreferenced', () => {
    const names = Object.keys(doc.components.schemas);
    expect(names.filter((n) => n.endsWith('Input'))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(['Error', 'Health', 'RetestRequest', 'RetestRun', 'Signal']));
    const text = JSON.stringify(doc.paths) + JSON.stringify(doc.components.schemas);
    const referenced = new Set([...text.matchAll(/#\/components\/schemas\/(\w+)/g)].map((m) => m[1]));
    expect(names.filter((n) => !referenced.has(n))).toEqual([]);
    expect([...referenced].filter((n) => !names.includes(n!))).toEqual([]);
  });
});

/** Swagger UI renders in the browser only: the page as Debian's chromium draws it, JavaScript run. */
describe('/docs in a real headless browser', () => {
  let dom: string;
  let doc: OpenApiDoc;
  let profile: string;

  beforeAll(async () => {
    doc = (await app.inject({ url: '/openapi.json' })).json<OpenApiDoc>();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    profile = mkdtempSync(join(tmpdir(), 'owd-chromium-'));
    const args = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', `--user-data-dir=${profile}`];
    // Virtual time lets the page fetch /docs/json and render before the DOM is dumped; idle time
    // is skipped, so a long budget costs nothing on a quiet machine and covers a loaded one.
    args.push('--virtual-time-budget=60000', '--dump-dom', `http://127.0.0.1:${port}/docs`);
    // Asynchronously: the server answering the browser runs on this very event loop.
    const render = () =>
      new Promise<string>((resolve, reject) =>
        execFile('chromium', args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
          err ? reject(new Error(`chromium failed: ${err.message}\n${stderr.slice(-2000)}`)) : resolve(stdout),
        ),
      );
    // A starved machine can still dump before the UI drew the operations: one more try then.
    dom = await render();
    if (!dom.includes('opblock-summary-path')) dom = await render();
  }, 300_000);
  afterAll(() => {
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('shows every route of the OpenAPI document, under its own tag', () => {
    const sections = dom.split('<h3 class="opblock-tag"').slice(1);
    const rendered = sections.flatMap((section) => {
      const tag = /data-tag="([^"]*)"/.exec(section)?.[1];
      return [...section.matchAll(/opblock-summary-method">([A-Z]+)<\/span>.*?data-path="([^"]+)"/g)].map((m) => `${tag} ${m[1]} ${m[2]}`);
    });
    const expected = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => `${op.tags![0]} ${method.toUpperCase()} ${path}`),
    );
    expect(expected.length).toBeGreaterThanOrEqual(9);
    expect(rendered.sort()).toEqual(expected.sort());
  });

  it('draws the four groups in order, and no "default" group', () => {
    const tags = [...dom.matchAll(/<h3 class="opblock-tag"[^>]*data-tag="([^"]*)"/g)].map((m) => m[1]);
    expect(tags).toEqual(['observe', 'processes', 'merge gate', 'operations']);
  });

  it('draws each schema once in the Schemas section', () => {
    const models = [...dom.matchAll(/id="model-([^"]+)"/g)].map((m) => m[1]!);
    expect(models.sort()).toEqual(Object.keys(doc.components.schemas).sort());
  });
});
