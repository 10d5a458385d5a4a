import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CollectContext } from '../../../src/watchdog/signal.js';
import { createDepMetrics, DepCollector, pingDependency } from '../../../src/sources/deps/collector.js';
import { testConfig } from '../../support/app.js';
import { testApp } from '../../support/app.js';

// Peers that answer get a budget a loaded 2-core CI host keeps (the first ping loads undici: 416–487 ms seen at load 20+);
// the hanging peer a short one, so the cut-off itself is what the test waits for.
const TIMEOUT_S = 3;
const HANG_TIMEOUT_S = 0.4;

interface Peer {
  url: string;
  hits: Map<string, number>;
  close(): Promise<void>;
}

/** A loopback HTTP server; `handle` decides per path. Hanging requests are never answered. */
async function startPeer(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<Peer> {
  const hits = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1);
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port that was just bound and released: connecting to it is refused. */
async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/health`;
}

const ctx = (): CollectContext => ({ abortSignal: new AbortController().signal, now: Date.now(), log: pino({ level: 'silent' }) });

let peer: Peer;
let status = 200;
const bigBody = 'x'.repeat(1024 * 1024);

beforeAll(async () => {
  peer = await startPeer((req, res) => {
    switch (req.url) {
      case '/ok':
        res.end('ok');
        return;
      case '/big':
        res.end(bigBody);
        return;
      case '/big-500':
        res.writeHead(500).end(bigBody);
        return;
      case '/redirect':
        res.writeHead(302, { location: '/target' }).end();
        return;
      case '/target':
        res.end('followed');
        return;
      case '/fail':
        res.writeHead(500).end('boom');
        return;
      case '/switch':
        res.writeHead(status).end();
        return;
      case '/hang':
        return; // accepts, reads the request, never answers
      default:
        res.writeHead(404).end();
    }
  });
});

afterAll(async () => {
  await peer?.close();
});

describe('a dependency ping judges the status line', () => {
  it('a 200 is up, with its latency', async () => {
    const outcome = await pingDependency(`${peer.url}/ok`, { timeoutMs: TIMEOUT_S * 1000 });
    expect(outcome).toMatchObject({ ok: true, status: 200 });
    expect(outcome.latencyMs).toBeGreaterThan(0);
    expect(outcome.latencyMs).toBeLessThan(TIMEOUT_S * 1000);
  });

  it('a 302 is up and the redirect is not followed (a login redirect still proves the service answers)', async () => {
    const before = peer.hits.get('/target') ?? 0;
    const outcome = await pingDependency(`${peer.url}/redirect`, { timeoutMs: TIMEOUT_S * 1000 });
    expect(outcome).toMatchObject({ ok: true, status: 302 });
    expect(peer.hits.get('/target') ?? 0).toBe(before);
  });

  it('a 500 is a failure whose reason names the status code', async () => {
    const outcome = await pingDependency(`${peer.url}/fail`, { timeoutMs: TIMEOUT_S * 1000 });
    expect(outcome).toMatchObject({ ok: false, reason: 'HTTP 500' });
  });
});

describe('response bodies are always consumed, so pings never exhaust the connection pool', () => {
  it('pings of 1 MiB bodies (200 and 500) through a one-connection pool all finish', async () => {
    const agent = new Agent({ connections: 1, pipelining: 1 });
    try {
      const outcomes = [];
      const started = Date.now();
      for (const path of ['/big', '/big-500', '/big', '/big-500', '/ok']) {
        outcomes.push(await pingDependency(`${peer.url}${path}`, { timeoutMs: 10_000, dispatcher: agent }));
      }
      expect(outcomes.map((o) => (o.ok ? o.status : o.reason))).toEqual([200, 'HTTP 500', 200, 'HTTP 500', 200]);
      // An unread body would hold the only connection until the 10 s body timeout (5 MiB on a loaded host takes seconds, not 10).
      expect(Date.now() - started).toBeLessThan(8000);
    } finally {
      await agent.close();
    }
  });
});

describe('a failed ping says why: refused, timeout, DNS', () => {
  it('a closed port is "connection refused"', async () => {
    const outcome = await pingDependency(await refusedUrl(), { timeoutMs: TIMEOUT_S * 1000 });
    expect(outcome).toMatchObject({ ok: false, reason: 'connection refused' });
  });

  it('a server that accepts and never answers is a "timeout" after WATCHDOG_HTTP_TIMEOUT_S, not a stalled tick', async () => {
    const started = Date.now();
    const outcome = await pingDependency(`${peer.url}/hang`, { timeoutMs: HANG_TIMEOUT_S * 1000 });
    const tookMs = Date.now() - started;
    expect(outcome).toMatchObject({ ok: false, reason: 'timeout' });
    expect(tookMs).toBeGreaterThanOrEqual(HANG_TIMEOUT_S * 1000 - 20);
    expect(tookMs).toBeLessThan(HANG_TIMEOUT_S * 1000 + 1500);
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(HANG_TIMEOUT_S * 1000 - 20);
  });

  it('a name that does not resolve (RFC 6761 .invalid) is "DNS lookup failed"', async () => {
    const outcome = await pingDependency('http://orch-dep.invalid/health', { timeoutMs: 3000 });
    expect(outcome).toMatchObject({ ok: false, reason: 'DNS lookup failed' });
  });
});

describe('dep_down goes active only after WATCHDOG_DEP_DOWN_AFTER consecutive failures', () => {
  it('one failed ping is not a page; the second is; one success recovers and resets the count', async () => {
    const config = testConfig({ deps: [{ name: 'api', url: `${peer.url}/switch` }], depDownAfter: 2, httpTimeoutS: TIMEOUT_S });
    const collector = new DepCollector(config);
    const run = async (code: number) => {
      status = code;
      const [signal] = await collector.collect(ctx());
      return signal;
    };
    expect(await run(200)).toMatchObject({ key: 'dep_down:api', family: 'dep_down', entity: 'api', active: false });
    const first = await run(503);
    expect(first?.active).toBe(false);
    expect(first?.detail).toContain('1 consecutive failure(s), down after 2');
    const second = await run(503);
    expect(second?.active).toBe(true);
    expect(second?.detail).toMatch(/HTTP 503 after \d+ ms; 2 consecutive failure/);
    expect(await run(204)).toMatchObject({ active: false });
    expect((await run(500))?.active).toBe(false);
  });

  it('every dependency is judged on its own and pinged in parallel, so a hung one costs one timeout', async () => {
    const config = testConfig({
      deps: [
        { name: 'ok', url: `${peer.url}/ok` },
        { name: 'hung1', url: `${peer.url}/hang` },
        { name: 'hung2', url: `${peer.url}/hang` },
        { name: 'gone', url: await refusedUrl() },
      ],
      depDownAfter: 1,
      httpTimeoutS: TIMEOUT_S,
    });
    const started = Date.now();
    const signals = await new DepCollector(config).collect(ctx());
    expect(Date.now() - started).toBeLessThan(TIMEOUT_S * 1000 * 2);
    expect(signals.map((s) => [s.entity, s.active])).toEqual([
      ['ok', false],
      ['hung1', true],
      ['hung2', true],
      ['gone', true],
    ]);
    expect(signals[3]?.detail).toContain('connection refused');
  });

  it('a password or token in the URL never reaches the detail', async () => {
    const config = testConfig({
      deps: [{ name: 'db', url: `http://admin:hunter2@127.0.0.1:1/health?access_token=s3cr3t` }],
      depDownAfter: 1,
    });
    const [signal] = await new DepCollector(config).collect(ctx());
    expect(signal?.active).toBe(true);
    expect(signal?.detail).not.toMatch(/hunter2|s3cr3t/);
    expect(signal?.detail).toContain('admin:***@127.0.0.1:1');
  });
});

describe('dependency metrics are labelled by name, never by URL', () => {
  it('exposes orch_watchdog_dep_up and orch_watchdog_dep_latency_seconds per dependency name', async () => {
    const registry = new Registry();
    const metrics = createDepMetrics(registry);
    const config = testConfig({
      deps: [
        { name: 'api', url: `${peer.url}/ok` },
        { name: 'search', url: `${peer.url}/fail` },
      ],
      httpTimeoutS: TIMEOUT_S,
    });
    await new DepCollector(config, { metrics }).collect(ctx());
    const text = await registry.metrics();
    expect(text).toContain('orch_watchdog_dep_up{dep="api"} 1');
    expect(text).toContain('orch_watchdog_dep_up{dep="search"} 0');
    expect(text).toMatch(/orch_watchdog_dep_latency_seconds_count\{dep="api"\} 1/);
    expect(text).not.toContain('127.0.0.1');
  });
});

describe('WATCHDOG_DEPS is wired into the app', () => {
  it('a configured dependency shows in GET /signals and GET /metrics after a tick', async () => {
    const app = await testApp(
      {
        deps: [
          { name: 'api', url: `${peer.url}/ok` },
          { name: 'search', url: `${peer.url}/fail` },
        ],
        depDownAfter: 1,
        httpTimeoutS: TIMEOUT_S,
      },
      { collectors: undefined },
    );
    try {
      await app.ctx.watchdog.tick();
      const body = (await app.inject('/signals')).json<{ signals: { key: string; active: boolean }[] }>();
      const deps = body.signals.filter((s) => s.key.startsWith('dep_down:')).map((s) => [s.key, s.active]);
      expect(deps).toEqual([
        ['dep_down:api', false],
        ['dep_down:search', true],
      ]);
      const metrics = (await app.inject('/metrics')).body;
      expect(metrics).toContain('orch_watchdog_dep_up{dep="search"} 0');
    } finally {
      await app.close();
    }
  });

  it('without WATCHDOG_DEPS no dependency is pinged and no dep_down signal exists', async () => {
    const app = await testApp({}, { collectors: undefined });
    try {
      const tick = await app.ctx.watchdog.tick();
      expect(tick.signals.filter((s) => s.family === 'dep_down')).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
