/**
 * What reading the Docker Engine costs the server (not part of the test suite): `node
 * dist/src/server.js` with WATCHDOG_CONTAINERS set, against the same server without it as the
 * reference, in the same run; once alone and once with WATCHDOG_METRICS_URL set (the usual
 * deployment, where the HTTP client is loaded anyway). A fake Engine on a unix socket answers
 * /_ping and the inspect, and a loopback server the envelope, so the figures are the clients'
 * (module load, first call), not a daemon's.
 *
 * Per round, alternating: start to the first /healthz 200, start to the first tick that checked
 * the container (GET /signals lists container:web; the reference: its first tick), and RSS 3 s
 * after start. Env: BENCH_ROUNDS (7), BENCH_SERVER (dist/src/server.js; another checkout's for a
 * before/after).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, get as httpGet } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const SERVER = process.env.BENCH_SERVER ?? 'dist/src/server.js';

const inspect = {
  Id: 'f'.repeat(64),
  Name: '/web',
  RestartCount: 0,
  State: {
    Status: 'running',
    Pid: 4242,
    ExitCode: 0,
    Error: '',
    OOMKilled: false,
    StartedAt: '2026-11-22T11:00:00Z',
    FinishedAt: '0001-01-01T00:00:00Z',
  },
};

async function fakeEngine(): Promise<{ socketPath: string; close(): void }> {
  const dir = mkdtempSync('/tmp/owd-bench-engine-');
  const socketPath = join(dir, 'docker.sock');
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(req.url?.endsWith('/_ping') ? 'OK' : JSON.stringify(inspect));
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    close: () => {
      server.closeAllConnections();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function fakeOrchestrator(): Promise<{ url: string; close(): void }> {
  const envelope = JSON.stringify({ schema_version: 1, generated_at: 1781500000.5, queue: { counts: { failed: 0 } }, agents: [] });
  const server = createServer((_req, res) => res.setHeader('content-type', 'application/json').end(envelope));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/metrics`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

function getText(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port, path, timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** ms from `t0` until `check` holds, polled every 5 ms (at most 60 s). */
async function until(t0: number, check: () => Promise<boolean>): Promise<number> {
  while (performance.now() - t0 < 60_000) {
    if (await check().catch(() => false)) return performance.now() - t0;
    await delay(5);
  }
  throw new Error('condition not met within 60 s');
}

interface Round {
  healthzMs: number;
  checkedMs: number;
  rssMb: number;
}

async function round(env: Record<string, string>, expectContainer: boolean): Promise<Round> {
  const port = await freePort();
  const t0 = performance.now();
  const child: ChildProcess = spawn('node', [SERVER], {
    env: { ...process.env, WATCHDOG_PORT: String(port), WATCHDOG_TICK_S: '0.2', LOG_LEVEL: 'warn', ...env },
    stdio: 'ignore',
  });
  try {
    const healthzMs = await until(t0, async () => (await getText(port, '/healthz')).status === 200);
    const checkedMs = await until(t0, async () => {
      const { body } = await getText(port, '/signals');
      return expectContainer ? body.includes('container:web') : (JSON.parse(body) as { generated_at: string | null }).generated_at !== null;
    });
    await delay(Math.max(0, 3000 - (performance.now() - t0)));
    const rssMb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
    return { healthzMs, checkedMs, rssMb };
  } finally {
    child.kill('SIGKILL');
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const f1 = (n: number): string => n.toFixed(1);

function report(title: string, withEngine: Round[], reference: Round[]): void {
  console.log(`  ${title}:`);
  for (const [what, key, unit] of [
    ['start to first /healthz 200', 'healthzMs', 'ms'],
    ['start to first tick with the container checked', 'checkedMs', 'ms'],
    ['RSS 3 s after start', 'rssMb', 'MB'],
  ] as const) {
    const a = median(withEngine.map((r) => r[key]));
    const b = median(reference.map((r) => r[key]));
    console.log(`    ${what}: ${f1(a)} ${unit} with WATCHDOG_CONTAINERS, ${f1(b)} ${unit} without = ${(a / b).toFixed(2)}x`);
  }
}

async function main(): Promise<void> {
  const engine = await fakeEngine();
  const orchestrator = await fakeOrchestrator();
  const containers = { WATCHDOG_CONTAINERS: 'web', WATCHDOG_DOCKER_SOCK: engine.socketPath };
  const envelope = { WATCHDOG_METRICS_URL: orchestrator.url };
  const runs = { alone: [] as Round[], aloneRef: [] as Round[], withUrl: [] as Round[], withUrlRef: [] as Round[] };
  try {
    for (let i = 0; i < ROUNDS; i += 1) {
      runs.aloneRef.push(await round({}, false));
      runs.alone.push(await round(containers, true));
      runs.withUrlRef.push(await round(envelope, false));
      runs.withUrl.push(await round({ ...envelope, ...containers }, true));
    }
  } finally {
    engine.close();
    orchestrator.close();
  }
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`${SERVER}, ${ROUNDS} rounds each, medians (load average ${load}):`);
  report('no other source', runs.alone, runs.aloneRef);
  report('with WATCHDOG_METRICS_URL (its HTTP client loaded anyway)', runs.withUrl, runs.withUrlRef);
}

await main();
