import { existsSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { connectionCap, FD_RESERVE_BASE, FD_RESERVE_PER_RETEST, HTTP_LIMITS } from '../src/http-server.js';
import { createLogger } from '../src/logger.js';
import { testApp } from './support/app.js';
import { userOwnedDir } from './support/merge-gate.js';
import { killAll, startServer } from './support/server-process.js';
import { waitFor } from './support/wait-for.js';

const apps: FastifyInstance[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const a of apps.splice(0)) await a.close();
  killAll();
});

/** A listening app whose log lines the test reads. */
async function listening(): Promise<{ base: string; port: number; lines: string[] }> {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  const app = await testApp({ apiToken: 'tok' }, { log });
  apps.push(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return { base: `http://127.0.0.1:${port}`, port, lines };
}

/** What a raw socket receives after sending `request` (the server closes it or answers). */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(request));
    sockets.push(s);
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

// Incident guarded: a URL of 15,000 letters blocked the event loop 0.55 s while its log line was
// redacted; 16 such clients in parallel pushed /healthz to 8.9 s.
describe('an over-long URL gets 414 before any work', () => {
  it('414 {error, message} for a target over the limit, with no log line and no route reached; one at the limit is routed', async () => {
    const { base, lines } = await listening();
    const long = `/${'a'.repeat(15_000)}`;
    const res = await fetch(`${base}${long}`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(414);
    expect(await res.json()).toEqual({ error: 'uri_too_long', message: expect.stringMatching(/longer than 2048 characters/) });
    expect(lines.filter((l) => l.includes('aaaaaaaaaa'))).toEqual([]);

    const atLimit = `/${'a'.repeat(HTTP_LIMITS.maxUrlChars - 1)}`;
    const routed = await fetch(`${base}${atLimit}`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(routed.status).toBe(404);
    expect(((await routed.json()) as { error: string }).error).toBe('not_found');
    // a write is logged for audit: that one reached the router and the logger
    expect(lines.some((l) => l.includes('aaaaaaaaaa'))).toBe(true);
  });

  it('a GET with a long query string is refused the same way', async () => {
    const { base } = await listening();
    const res = await fetch(`${base}/healthz?x=${'1'.repeat(3000)}`);
    expect(res.status).toBe(414);
  });
});

// Incident guarded: 19,975 idle unauthenticated connections took 19,996 of 20,000 fds.
describe('idle and slow connections are closed', { timeout: 60_000 }, () => {
  it('a connection that never sends its headers is answered 408 and closed after the headers timeout', async () => {
    const { port } = await listening();
    const started = Date.now();
    const idle = rawExchange(port, '');
    const slow = rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const [idleGot, slowGot] = await Promise.all([idle, slow]);
    const tookMs = Date.now() - started;
    expect(idleGot).toMatch(/^HTTP\/1\.1 408/);
    expect(slowGot).toMatch(/^HTTP\/1\.1 408/);
    expect(tookMs).toBeGreaterThanOrEqual(HTTP_LIMITS.headersTimeoutMs - 100);
  });

  it('the server holds at most its cap of connections; the rest are refused, counted and logged', async () => {
    const { port, base, lines } = await listening();
    const app = apps[0]!;
    // the cap of this test process; lowered here so a few sockets reach it
    app.server.maxConnections = 5;
    for (let k = 0; k < 8; k += 1) {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      sockets.push(s);
    }
    await waitFor('three connections refused', async () => {
      const text = await app.inject('/metrics').then((r) => r.body);
      return /orch_watchdog_http_connections_refused_total 3\b/.test(text);
    });
    expect(lines.some((l) => l.includes('connections refused at the cap'))).toBe(true);
    for (const s of sockets.splice(0)) s.destroy();
    await waitFor('a slot is free again', async () => (await fetch(`${base}/metrics`).catch(() => null))?.status === 200);
  });
});

describe('the connection cap leaves fds for the gate', () => {
  it('the open-file limit less the /proc scan budget and a reserve per parallel re-test, within [16, 1024]', () => {
    expect(connectionCap(1024, 1)).toBe(1024 - 256 - FD_RESERVE_BASE - FD_RESERVE_PER_RETEST);
    expect(connectionCap(1024, 3)).toBe(1024 - 256 - FD_RESERVE_BASE - 3 * FD_RESERVE_PER_RETEST);
    expect(connectionCap(20_000, 1)).toBe(HTTP_LIMITS.maxConnections);
    expect(connectionCap(256, 1)).toBe(16);
    expect(connectionCap(null, 1)).toBe(HTTP_LIMITS.maxConnections);
    expect(connectionCap(Number.POSITIVE_INFINITY, 1)).toBe(HTTP_LIMITS.maxConnections);
  });
});

/** Idle connections to `port`, kept at `count`: each one the server closes is opened again 50 ms later. */
function flood(port: number, count: number): { stop: () => void } {
  let flooding = true;
  const open = (): void => {
    if (!flooding) return;
    const s = connect(port, '127.0.0.1');
    sockets.push(s);
    s.on('error', () => undefined);
    s.on('close', () => setTimeout(open, 50));
  };
  for (let k = 0; k < count; k += 1) open();
  return {
    stop: () => {
      flooding = false;
      for (const s of sockets.splice(0)) s.destroy();
    },
  };
}

const socketFds = (pid: number): number =>
  readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
    } catch {
      return false;
    }
  }).length;

// Incident guarded: 19,975 idle unauthenticated connections took 19,996 of the watchdog's 20,000
// fds, and a re-test posted then failed as `infra` (its pipes could not be created).
describe('a flood of idle connections never costs a re-test its fds', { timeout: 240_000 }, () => {
  it('under a 1,024-fd limit, 3,000 idle sockets stop at the cap and a re-test that starts meanwhile passes', async () => {
    const token = 'fd-reserve-token';
    const server = startServer(
      { WATCHDOG_API_TOKEN: token, WATCHDOG_TICK_S: '5', WATCHDOG_MERGE_MAX_CPU_PRESSURE: '100', WATCHDOG_MERGE_INFRA_REQUEUE: 'false' },
      ['prlimit', '--nofile=1024:1024'],
    );
    const base = await server.address();
    const pid = server.child.pid!;
    const post = async (cwd: string, repo: string, script: string): Promise<string> => {
      const res = await fetch(`${base}/merge-gate/retests`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ repo, branch: 'main', cwd, command: ['sh', '-c', script] }),
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as { id: string }).id;
    };
    const run = async (id: string) =>
      (await (await fetch(`${base}/merge-gate/retests/${id}`)).json()) as { status: string; outcome?: string };

    // the holder keeps the gate's one slot until `go` appears; the tested run starts once it ends, in the flood
    const holder = userOwnedDir('owd-holder-');
    const tested = userOwnedDir('owd-tested-');
    const holderId = await post(holder, 'holder', 'while [ ! -e go ]; do sleep 0.1; done');
    const testedId = await post(tested, 'tested', 'for i in 1 2 3 4 5 6 7 8; do date > f$i; done; echo 1 passed > marker');
    await waitFor('the holder runs', async () => (await run(holderId)).status === 'running', { timeoutMs: 60_000 });

    const attack = flood(Number(new URL(base).port), 3000);
    try {
      await waitFor('the API holds all the connections it will take', () => socketFds(pid) >= 400, { timeoutMs: 60_000, intervalMs: 200 });
      writeFileSync(join(holder, 'go'), '');
      await waitFor('the tested re-test ran to its end', () => existsSync(join(tested, 'marker')), {
        timeoutMs: 90_000,
        intervalMs: 200,
        describe: () => server.out().split('\n').slice(-15).join('\n'),
      });
      expect(socketFds(pid)).toBeLessThanOrEqual(connectionCap(1024, 1) + 8);
    } finally {
      attack.stop();
    }
    await waitFor('the tested re-test is recorded', async () => (await run(testedId).catch(() => ({ status: '' }))).status === 'done', {
      timeoutMs: 60_000,
    });
    expect(await run(testedId)).toMatchObject({ status: 'done', outcome: 'pass' });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(Number(/orch_watchdog_http_connections_refused_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
  });
});
