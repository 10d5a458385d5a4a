/**
 * Event-loop budget under attack (issue 21, "Done when"). Two attacks run together against the
 * real server (`node <dist>/src/server.js`, /proc scan on, a tick every 5 s):
 *   - a local user's 400 processes named `pytest`, each with a 4,070-letter argument (real
 *     processes: `exec -a pytest dash -c 'sleep …; :' <letters>`), which the scan finds and whose
 *     command lines are redacted every tick;
 *   - 16 unauthenticated clients in parallel, each sending POST requests whose URL holds 15,000
 *     letters, back to back (a separate process, so the measuring client is not slowed by it).
 * For a minute a third client asks GET /healthz every 100 ms (one at a time, 30 s timeout) and
 * records the latency; the tick durations come from /healthz; then SIGTERM, and the time to
 * exit. With BENCH_MAIN_DIST (another checkout's dist/, e.g. main's) the same run is repeated
 * against it, and the ratios are printed. Run with `bash bench/event-loop.sh`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { get } from './http-get.js';
import { launchGroup } from './process-group.js';

const HOSTILE_PROCS = Number(process.env.BENCH_PROCS ?? 400);
const ARG_LETTERS = 4070;
const FLOOD_CLIENTS = 16;
const URL_LETTERS = 15_000;
const MEASURE_S = Number(process.env.BENCH_MEASURE_S ?? 60);
const HEALTHZ_TIMEOUT_MS = 30_000;
const EXIT_WAIT_MS = 30_000;

process.on('SIGINT', () => process.exit(130));

/** The hostile user's processes, in one process group; resolves once all are up. */
async function startHostileProcesses(): Promise<ChildProcess> {
  const letters = 'a'.repeat(ARG_LETTERS);
  const script = `for i in $(seq ${HOSTILE_PROCS}); do (exec -a pytest dash -c 'sleep 3600; :' ${letters}) & done; wait`;
  const group = launchGroup('bash', ['-c', script]);
  group.stdout!.resume();
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { stdout } = await run('pgrep', ['-c', '-g', String(group.pid), '-f', '^pytest ']);
    if (Number(stdout.trim()) >= HOSTILE_PROCS) return group;
    if (Date.now() > deadline) throw new Error(`only ${stdout.trim()} of ${HOSTILE_PROCS} hostile processes started`);
    await delay(500);
  }
}

function run(cmd: string, args: string[]): Promise<{ stdout: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.on('close', () => resolve({ stdout }));
  });
}

/** `node <dist>/src/server.js` on a free port; resolves with the port once it listens. */
async function startServer(dist: string): Promise<{ child: ChildProcess; port: number }> {
  const child = launchGroup(process.execPath, [`${dist}/src/server.js`], {
    WATCHDOG_PORT: '0',
    WATCHDOG_PROC_ENABLED: 'true',
    WATCHDOG_TICK_S: '5',
    LOG_LEVEL: 'info',
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${dist}: no listening line within 60 s`)), 60_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /"address":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      // from here the log is only drained: the server writes it synchronously, a full pipe would stall it
      child.stdout!.off('data', onData);
      child.stdout!.resume();
      resolve(Number(m[1]));
    };
    child.stdout!.on('data', onData);
  });
  return { child, port };
}

/** This file in flood mode: `FLOOD_CLIENTS` loops of POST /<letters>, until killed. */
async function flood(port: number): Promise<void> {
  const path = `/${'a'.repeat(URL_LETTERS)}`;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', () => resolve());
      req.end('{}');
    });
  await Promise.all(
    Array.from({ length: FLOOD_CLIENTS }, async () => {
      for (;;) await one();
    }),
  );
}

interface Figures {
  samples: number;
  timeouts: number;
  p50: number;
  p99: number;
  max: number;
  ticks: number[];
  exitMs: number | null;
}

const percentile = (xs: number[], p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};

async function measure(dist: string): Promise<Figures> {
  const { child, port } = await startServer(dist);
  const flooder = launchGroup(process.execPath, [process.argv[1]!, '--flood', String(port)]);
  flooder.stdout!.resume();
  const latencies: number[] = [];
  const ticks = new Map<number, number>();
  let timeouts = 0;
  const end = performance.now() + MEASURE_S * 1000;
  while (performance.now() < end) {
    const started = performance.now();
    try {
      const res = await get(port, '/healthz', HEALTHZ_TIMEOUT_MS);
      const h = JSON.parse(res.body) as { tick_count: number; last_tick_duration_s: number | null };
      if (h.last_tick_duration_s !== null) ticks.set(h.tick_count, h.last_tick_duration_s);
    } catch {
      timeouts += 1;
    }
    latencies.push(performance.now() - started);
    await delay(100);
  }
  const termAt = performance.now();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid!, 'SIGTERM');
  const exitMs =
    (await Promise.race([exited.then(() => 'exited'), delay(EXIT_WAIT_MS, 'late')])) === 'late' ? null : performance.now() - termAt;
  for (const c of [flooder, child]) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return {
    samples: latencies.length,
    timeouts,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: Math.max(...latencies),
    ticks: [...ticks.values()],
    exitMs,
  };
}

const ms = (v: number): string => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`);

function row(name: string, f: Figures): string {
  const tickMs = f.ticks.map((s) => s * 1000);
  const ticks =
    tickMs.length === 0 ? 'none finished' : `p50 ${ms(percentile(tickMs, 50))}, max ${ms(Math.max(...tickMs))} (${tickMs.length})`;
  const exit = f.exitMs === null ? `> ${EXIT_WAIT_MS / 1000} s` : ms(f.exitMs);
  return `${name} | ${ms(f.p50)} | ${ms(f.p99)} | ${ms(f.max)} | ${f.samples} (${f.timeouts} timed out) | ${ticks} | ${exit}`;
}

async function main(): Promise<void> {
  const contenders: [string, string][] = [['this checkout', 'dist']];
  if (process.env.BENCH_MAIN_DIST) contenders.push(['reference (BENCH_MAIN_DIST)', process.env.BENCH_MAIN_DIST]);
  const hostile = await startHostileProcesses();
  console.log(
    `${HOSTILE_PROCS} hostile pytest processes up (${ARG_LETTERS}-letter argument each); ${FLOOD_CLIENTS}-client flood of ${URL_LETTERS}-letter URLs; ${MEASURE_S} s each`,
  );
  const results: [string, Figures][] = [];
  for (const [name, dist] of contenders) results.push([name, await measure(dist)]);
  process.kill(-hostile.pid!, 'SIGKILL');
  console.log('server | /healthz p50 | p99 | max | samples | tick duration | SIGTERM → exit');
  for (const [name, f] of results) console.log(row(name, f));
  if (results.length === 2) {
    const [[, mine], [, ref]] = results as [[string, Figures], [string, Figures]];
    const maxTick = (f: Figures): number => Math.max(...f.ticks, 0);
    const tick =
      ref.ticks.length === 0
        ? `no reference tick finished in ${MEASURE_S} s`
        : `longest tick ${(maxTick(ref) / maxTick(mine)).toFixed(1)} ×`;
    const exit = ref.exitMs === null || mine.exitMs === null ? '' : `, SIGTERM → exit ${(ref.exitMs / mine.exitMs).toFixed(0)} ×`;
    console.log(
      `reference / this checkout: /healthz p99 ${(ref.p99 / mine.p99).toFixed(1)} ×, max ${(ref.max / mine.max).toFixed(1)} ×, ${tick}${exit}`,
    );
  }
}

if (process.argv[2] === '--flood') void flood(Number(process.argv[3]));
else
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
