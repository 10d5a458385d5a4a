import { METHODS } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { testApp } from '../support/app.js';

const TOKEN = 'write-auth-token-0123';
const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

async function app(apiToken: string, extend?: (a: FastifyInstance) => void): Promise<FastifyInstance> {
  const a = await testApp({ apiToken });
  extend?.(a);
  await a.ready();
  apps.push(a);
  return a;
}

/** Every registered `METHOD /path` that is not GET/HEAD, read from printRoutes' tree (one call per method). */
function writeRoutes(a: FastifyInstance): string[] {
  const found = new Set<string>();
  for (const method of METHODS.filter((m) => m !== 'GET' && m !== 'HEAD')) {
    const stack: string[] = [];
    for (const line of a.printRoutes({ method, commonPrefix: false }).split('\n')) {
      const m = /^(.*?)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
      if (!m) continue;
      const depth = Math.floor((m[1] ?? '').length / 4);
      stack.length = depth;
      stack.push(m[2] ?? '');
      if (m[3]?.split(', ').includes(method)) found.add(`${method} ${stack.join('')}`);
    }
  }
  return [...found].sort();
}

const concrete = (path: string): string =>
  path
    .replace(/:pid\b/g, '42')
    .replace(/:[A-Za-z_]+/g, 'x')
    .replace(/\*/g, 'x');

async function call(a: FastifyInstance, route: string, headers: Record<string, string> = {}) {
  const [method, path] = route.split(' ') as [string, string];
  // a body that fails every schema: auth must answer before validation looks at it
  return a.inject({
    method: method as 'POST',
    url: concrete(path ?? ''),
    headers: { 'content-type': 'application/json', ...headers },
    payload: '{"cwd": "/nonexistent"}',
  });
}

// Incident guarded: the token check ran as a preHandler, after body validation, so an unauthenticated
// POST /merge-gate/retests learned "body.cwd: must be an existing directory" (a filesystem probe).
describe('every non-GET route needs the bearer token, found by enumerating the routes', () => {
  it('finds the write routes the contract names (the enumeration is not empty)', async () => {
    const routes = writeRoutes(await app(TOKEN));
    expect(routes).toEqual(expect.arrayContaining(['POST /merge-gate/retests', 'POST /proc/candidates/:pid/terminate']));
  });

  it('401 without a token and with a wrong one, before any validation, for every write route', async () => {
    const a = await app(TOKEN);
    for (const route of writeRoutes(a)) {
      for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong-token' }, { authorization: TOKEN }]) {
        const res = await call(a, route, headers);
        expect({ route, status: res.statusCode, error: res.json().error }).toEqual({ route, status: 401, error: 'unauthorized' });
      }
    }
    expect((await a.inject('/queue')).json().merge_gate).toMatchObject({ queued: 0, running: 0, runs_total: 0 });
  });

  it('403 for every write route when WATCHDOG_API_TOKEN is empty, even with a bearer header', async () => {
    const a = await app('');
    for (const route of writeRoutes(a)) {
      for (const headers of [{} as Record<string, string>, { authorization: 'Bearer ' }, { authorization: `Bearer ${TOKEN}` }]) {
        const res = await call(a, route, headers);
        expect({ route, status: res.statusCode, error: res.json().error }).toEqual({ route, status: 403, error: 'forbidden' });
      }
    }
  });

  it('a write route added later by a plugin is covered by default', async () => {
    const a = await app(TOKEN, (x) => {
      void x.register(async (p) => {
        p.delete('/audit-added/:id', async () => ({ deleted: true }));
      });
    });
    expect(writeRoutes(a)).toContain('DELETE /audit-added/:id');
    expect((await a.inject({ method: 'DELETE', url: '/audit-added/1' })).statusCode).toBe(401);
    expect((await a.inject({ method: 'DELETE', url: '/audit-added/1', headers: { authorization: `Bearer ${TOKEN}` } })).json()).toEqual({
      deleted: true,
    });
  });

  it('the right token passes to validation, which then names the field', async () => {
    const a = await app(TOKEN);
    const res = await call(a, 'POST /merge-gate/retests', { authorization: `Bearer ${TOKEN}` });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/body\.cwd/);
  });
});
