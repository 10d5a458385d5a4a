/**
 * Footprint benchmark (issue 13). Measures, side by side in one run, each figure against a reference
 * measured in the same run (the Fastify hello-world of bench/hello-world.ts, same node_modules):
 *   1. start to the first /healthz 200: `node dist/src/server.js`, `npm start` with dist/ current, hello-world;
 *   2. idle RSS, default config (and as `npm start` launches it, when its command adds node flags);
 *   3. RSS while scanning N processes every second with pid churn (bench/sleepers.c), first vs last quarter;
 *   4. GET /signals vs the hello-world's GET / with wrk (1 thread, 32 connections) while scanning;
 *   5. a soak of many short ticks: RSS after warm-up vs at the end.
 * Every child runs in its own process group and is killed at the end, also on failure or Ctrl-C.
 * Requests go to 127.0.0.1 only and every loop is bounded in count and time.
 * Run with `bash bench/footprint.sh [--quick]` (see there for the flags).
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { get } from './http-get.js';
import { killAllGroups, launchGroup } from './process-group.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    procs: { type: 'string', default: '5000' },
    churn: { type: 'string', default: '250' },
    'scan-s': { type: 'string' },
    'wrk-s': { type: 'string' },
    'wrk-rounds': { type: 'string' },
    'start-rounds': { type: 'string' },
    'soak-ticks': { type: 'string' },
    'soak-procs': { type: 'string', default: '1000' },
    'soak-tick-s': { type: 'string', default: '0.05' },
    sleepers: { type: 'string', default: 'dist/bench-build/sleepers' },
    phases: { type: 'string', default: 'start,idle,scan,soak' },
  },
});
const quick = flags.quick;
const num = (v: string | undefined, full: number, short: number): number => (v === undefined ? (quick ? short : full) : Number(v));
const PROCS = Number(flags.procs);
const CHURN = Number(flags.churn);
const SCAN_S = num(flags['scan-s'], 240, 40);
const WRK_S = num(flags['wrk-s'], 10, 4);
const WRK_ROUNDS = num(flags['wrk-rounds'], 3, 1);
const START_ROUNDS = num(flags['start-rounds'], 5, 2);
const SOAK_TICKS = num(flags['soak-ticks'], 10_000, 600);
const SOAK_PROCS = Number(flags['soak-procs']);
const SOAK_TICK_S = Number(flags['soak-tick-s']);
const SERVER = ['dist/src/server.js'];
const HELLO = ['dist/bench-build/bench/hello-world.js'];

for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => process.exit(130));

function launch(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  // own process group: npm's shell and its node die together with it
  const c = launchGroup(cmd, args, { LOG_LEVEL: 'warn', ...env });
  c.stdout!.resume();
  return c;
}
async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  process.kill(-c.pid!, 'SIGTERM');
  if ((await Promise.race([exited, delay(5000, 'late')])) === 'late') process.kill(-c.pid!, 'SIGKILL');
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

/** Polls /healthz every 10 ms, at most `limitMs`; returns ms from `t0` to the first 200. */
async function untilHealthy(port: number, t0: number, limitMs = 120_000): Promise<number> {
  for (let i = 0; performance.now() - t0 < limitMs && i < limitMs / 10; i++) {
    const ok = await get(port, '/healthz', 1000).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return performance.now() - t0;
    await delay(10);
  }
  throw new Error(`no /healthz 200 on ${port} within ${limitMs} ms`);
}

async function startServer(
  args: string[],
  env: Record<string, string> = {},
  cmd = 'node',
): Promise<{ child: ChildProcess; port: number; startMs: number }> {
  const port = await freePort();
  const t0 = performance.now();
  const child = launch(cmd, args, { WATCHDOG_PORT: String(port), ...env });
  const startMs = await untilHealthy(port, t0);
  return { child, port, startMs };
}

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const f1 = (n: number): string => n.toFixed(1);
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
const verdict = (ok: boolean): string => (ok ? 'meets' : 'MISSES');

/** The node flags `npm start` adds before dist/src/server.js (none by default). */
function launchFlags(): string[] {
  const start = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts.start ?? '';
  return (/node ((?:--\S+ )*)dist\/src\/server\.js/.exec(start)?.[1] ?? '').trim().split(' ').filter(Boolean);
}

async function measureStart(): Promise<void> {
  const times: Record<'hello' | 'node' | 'npm', number[]> = { hello: [], node: [], npm: [] };
  for (let r = 0; r < START_ROUNDS; r++) {
    // interleaved, so the host's load hits each contender alike
    for (const [key, cmd, args] of [
      ['hello', 'node', HELLO],
      ['node', 'node', SERVER],
      ['npm', 'npm', ['start', '--silent']],
    ] as const) {
      const s = await startServer([...args], { npm_config_update_notifier: 'false' }, cmd);
      times[key].push(s.startMs);
      await stop(s.child);
    }
  }
  const [h, n, m] = [median(times.hello), median(times.node), median(times.npm)];
  console.log(
    `start to first /healthz 200 (median of ${START_ROUNDS}): hello-world ${f1(h)} ms, node dist/src/server.js ${f1(n)} ms, npm start ${f1(m)} ms`,
  );
  console.log(
    `  node: ${ratio(n, h)} the hello-world, ${verdict(n <= 1000)} <= 1000 ms; npm start: ${ratio(m, h)}, ${verdict(m <= 1500)} <= 1500 ms`,
  );
}

async function sampleRss(pids: number[], seconds: number, everyMs: number): Promise<number[][]> {
  const out: number[][] = pids.map(() => []);
  for (let i = 0; i < Math.ceil((seconds * 1000) / everyMs); i++) {
    pids.forEach((p, k) => out[k]!.push(rssMb(p)));
    await delay(everyMs);
  }
  return out;
}

async function measureIdle(): Promise<void> {
  const flagsOfNpm = launchFlags();
  const hello = await startServer(HELLO);
  const plain = await startServer(SERVER);
  const launched = flagsOfNpm.length ? await startServer([...flagsOfNpm, ...SERVER]) : null;
  await delay(quick ? 5000 : 15_000); // past start-up, a few ticks in (default tick 30 s: at least one)
  const pids = [hello, plain, launched].filter((s) => s !== null).map((s) => s.child.pid!);
  const [h, p, l] = (await sampleRss(pids, 5, 1000)).map(median);
  console.log(
    `idle RSS (median of 5 samples): hello-world ${f1(h!)} MB, node dist/src/server.js ${f1(p!)} MB = ${ratio(p!, h!)} ${verdict(p! <= 1.2 * h!)} <= 1.2x`,
  );
  if (l !== undefined)
    console.log(
      `  as npm start launches it (node ${flagsOfNpm.join(' ')}): ${f1(l)} MB = ${ratio(l, h!)} ${verdict(l <= 1.2 * h!)} <= 1.2x`,
    );
  for (const s of [hello, plain, launched]) if (s) await stop(s.child);
}

async function startSleepers(n: number, churn: number): Promise<ChildProcess> {
  const c = launch(flags.sleepers, [String(n), String(churn), ' '.repeat(96)]);
  const ready = new Promise<void>((resolve) => c.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
  if ((await Promise.race([ready, delay(300_000, 'late')])) === 'late') throw new Error(`sleepers: ${n} processes not ready within 300 s`);
  return c;
}

async function metric(port: number, name: string): Promise<number> {
  const { body } = await get(port, '/metrics', 5000);
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(body)?.[1] ?? NaN);
}

interface WrkResult {
  rps: number;
  p99Ms: number;
}
function wrk(port: number, path: string): WrkResult {
  const out = execFileSync('wrk', ['-t1', '-c32', `-d${WRK_S}s`, '--latency', `http://127.0.0.1:${port}${path}`], {
    encoding: 'utf8',
    timeout: (WRK_S + 30) * 1000,
  });
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)$/m.exec(out);
  const unit = { us: 0.001, ms: 1, s: 1000 }[(p99?.[2] ?? 'ms') as 'us' | 'ms' | 's'];
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]), p99Ms: Number(p99?.[1]) * unit };
}

async function measureScan(): Promise<void> {
  const sleepers = await startSleepers(PROCS, CHURN);
  // cmdline matching: every 50th sleeper renames its argv to a pytest command line
  const env = { WATCHDOG_PROC_ENABLED: 'true', WATCHDOG_TICK_S: '1', WATCHDOG_PROC_MATCH: 'cmdline' };
  const server = await startServer([...launchFlags(), ...SERVER], env);
  const hello = await startServer(HELLO);
  const [srv, ref] = await sampleRss([server.child.pid!, hello.child.pid!], SCAN_S, 2000);
  const q = Math.max(1, Math.floor(srv!.length / 8)); // the samples of the last 1/8 of each quarter window
  const first = mean(srv!.slice(Math.floor(srv!.length / 4) - q, Math.floor(srv!.length / 4)));
  const last = mean(srv!.slice(-q));
  const ticks = await metric(server.port, 'orch_watchdog_ticks_total');
  const drift = (last / first - 1) * 100;
  console.log(
    `scanning ${PROCS} processes every second, ${CHURN} replaced per second, ${SCAN_S} s, ${ticks} ticks: RSS at ${SCAN_S / 4} s ${f1(first)} MB, at ${SCAN_S} s ${f1(last)} MB (max ${f1(Math.max(...srv!))}; hello-world ${f1(median(ref!))} MB)`,
  );
  console.log(
    `  ${verdict(Math.max(...srv!) <= 100)} <= 100 MB; drift ${drift >= 0 ? '+' : ''}${f1(drift)}% ${verdict(Math.abs(drift) <= 5)} +-5%`,
  );
  const candidates = await metric(server.port, 'orch_watchdog_proc_candidates');
  const signals = await get(server.port, '/signals');
  console.log(`  ${candidates} candidates; GET /signals answers ${signals.status} with ${signals.body.length} bytes`);
  const ours: WrkResult[] = [];
  const theirs: WrkResult[] = [];
  for (let r = 0; r < WRK_ROUNDS; r++) {
    theirs.push(wrk(hello.port, '/'));
    ours.push(wrk(server.port, '/signals'));
  }
  const [o, t] = [ours, theirs].map((rs) => ({ rps: median(rs.map((x) => x.rps)), p99Ms: median(rs.map((x) => x.p99Ms)) }));
  console.log(
    `GET /signals while scanning (wrk -t1 -c32 -d${WRK_S}s, median of ${WRK_ROUNDS}): ${f1(o!.rps)} req/s p99 ${f1(o!.p99Ms)} ms; hello-world GET / ${f1(t!.rps)} req/s p99 ${f1(t!.p99Ms)} ms`,
  );
  console.log(
    `  ${ratio(o!.rps, t!.rps)} the hello-world's req/s ${verdict(o!.rps >= 0.9 * t!.rps)} >= 0.9x; p99 ${verdict(o!.p99Ms <= 5)} <= 5 ms`,
  );
  console.log(`  RSS after wrk: ${f1(rssMb(server.child.pid!))} MB (hello-world ${f1(rssMb(hello.child.pid!))} MB)`);
  for (const c of [server.child, hello.child, sleepers]) await stop(c);
}

async function measureSoak(): Promise<void> {
  const sleepers = await startSleepers(SOAK_PROCS, Math.ceil(SOAK_PROCS / 20));
  const env = { WATCHDOG_PROC_ENABLED: 'true', WATCHDOG_TICK_S: String(SOAK_TICK_S), WATCHDOG_PROC_MATCH: 'cmdline' };
  const server = await startServer([...launchFlags(), ...SERVER], env);
  const samples: { ticks: number; rss: number }[] = [];
  const limitMs = SOAK_TICKS * SOAK_TICK_S * 1000 * 4 + 60_000;
  const t0 = performance.now();
  let ticks = 0;
  while (ticks < SOAK_TICKS && performance.now() - t0 < limitMs) {
    await delay(2000);
    ticks = await metric(server.port, 'orch_watchdog_ticks_total');
    samples.push({ ticks, rss: rssMb(server.child.pid!) });
  }
  const window = (from: number, to: number): number =>
    mean(samples.filter((s) => s.ticks >= from * ticks && s.ticks <= to * ticks).map((s) => s.rss));
  const warm = window(0.2, 0.3);
  const end = window(0.9, 1);
  const growth = (end / warm - 1) * 100;
  console.log(
    `soak: ${ticks} ticks of ${SOAK_TICK_S} s over ${SOAK_PROCS} processes in ${f1((performance.now() - t0) / 1000)} s: RSS after 20-30% of the ticks ${f1(warm)} MB, last 10% ${f1(end)} MB (max ${f1(Math.max(...samples.map((s) => s.rss)))})`,
  );
  console.log(`  growth ${growth >= 0 ? '+' : ''}${f1(growth)}% ${verdict(growth <= 5)} no growth (<= +5%)`);
  for (const c of [server.child, sleepers]) await stop(c);
}

async function main(): Promise<void> {
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const nodeFlags = launchFlags();
  console.log(
    `node ${process.version}, ${execFileSync('nproc', { encoding: 'utf8' }).trim()} cores, load average ${load}, ${quick ? 'QUICK mode (figures indicative only)' : 'full mode'}`,
  );
  console.log(
    `launch command flags (from npm start): ${nodeFlags.length ? nodeFlags.join(' ') : 'none'}; the scan, /signals and soak figures use them`,
  );
  const phases = flags.phases.split(',');
  if (phases.includes('start')) await measureStart();
  if (phases.includes('idle')) await measureIdle();
  if (phases.includes('scan')) await measureScan();
  if (phases.includes('soak')) await measureSoak();
}

try {
  await main();
} finally {
  killAllGroups();
}
