/**
 * Footprint benchmark (issue 13). Measures, side by side in one run, each figure against a reference
 * measured in the same run (the Fastify hello-world of bench/hello-world.ts, same node_modules):
 *   1. start to the first /healthz answer (503 before the first tick) and to the first 200:
 *      `node dist/src/server.js` and `npm start` with dist/ current, each without and with the compile
 *      cache (NODE_DISABLE_COMPILE_CACHE=1, or NODE_COMPILE_CACHE=--compile-cache warmed by one start), hello-world;
 *   2. idle RSS, default config (and as `npm start` launches it, when its command adds node flags);
 *   3. RSS while scanning N processes every second with pid churn (bench/sleepers.c): the max, and the
 *      trend of the last 3/4 of the window (least squares) as a share of its mean;
 *   4. GET /signals vs the hello-world's GET / with wrk (1 thread, 32 connections) while scanning;
 *   5. a soak of many short ticks: RSS after warm-up vs at the end.
 * Every child runs in its own process group and is killed at the end, also on failure or Ctrl-C.
 * Requests go to 127.0.0.1 only and every loop is bounded in count and time.
 * The last line, `FIGURES {json}`, holds every figure for bench/figures.ts.
 * Run with `bash bench/footprint.sh [--quick]` (see there for the flags).
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { get } from './http-get.js';
import { killAllGroups, launchGroup } from './process-group.js';
import { freePort } from './free-port.js';
import { launchFlags } from './launch-server.js';

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
    'compile-cache': { type: 'string', default: 'dist/bench-build/compile-cache' },
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
/** Where NODE_COMPILE_CACHE points for the "with the compile cache" starts (warmed by one untimed start). */
const COMPILE_CACHE = flags['compile-cache'];
/** Every figure of this run, printed as one `FIGURES {json}` line at the end (bench/figures.ts reads it). */
const figures: Record<string, number | boolean | string> = {};
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

/**
 * Polls /healthz every 10 ms, at most `limitMs`; returns ms from `t0` to the first answer of any
 * status (503 before the first tick) and to the first 200.
 */
async function untilHealthy(port: number, t0: number, limitMs = 120_000): Promise<{ firstMs: number; okMs: number }> {
  let firstMs = NaN;
  for (let i = 0; performance.now() - t0 < limitMs && i < limitMs / 10; i++) {
    const status = await get(port, '/healthz', 1000).then(
      (r) => r.status,
      () => 0,
    );
    if (status !== 0 && Number.isNaN(firstMs)) firstMs = performance.now() - t0;
    if (status === 200) return { firstMs, okMs: performance.now() - t0 };
    await delay(10);
  }
  throw new Error(`no /healthz 200 on ${port} within ${limitMs} ms`);
}

async function startServer(
  args: string[],
  env: Record<string, string> = {},
  cmd = 'node',
): Promise<{ child: ChildProcess; port: number; startMs: number; firstMs: number }> {
  const port = await freePort();
  const t0 = performance.now();
  const child = launch(cmd, args, { WATCHDOG_PORT: String(port), ...env });
  const { firstMs, okMs } = await untilHealthy(port, t0);
  return { child, port, startMs: okMs, firstMs };
}

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const f1 = (n: number): string => n.toFixed(1);
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
const verdict = (ok: boolean): string => (ok ? 'meets' : 'MISSES');
/** Least-squares slope (per second) of samples taken every `everyS` seconds, and their mean. */
function fitLine(ys: number[], everyS: number): { slopePerS: number; mean: number } {
  const xs = ys.map((_, i) => i * everyS);
  const [mx, my] = [mean(xs), mean(ys)];
  const sxy = xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0);
  const sxx = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  return { slopePerS: sxx === 0 ? 0 : sxy / sxx, mean: my };
}

/** No compile cache (also when an entry enables it in code), or the bench's own warmed cache directory. */
const NO_CACHE = { NODE_DISABLE_COMPILE_CACHE: '1' };
const WITH_CACHE = { NODE_COMPILE_CACHE: COMPILE_CACHE };

async function measureStart(): Promise<void> {
  type Key = 'hello' | 'node' | 'nodeCache' | 'npm' | 'npmCache';
  const contenders: [Key, string, readonly string[], Record<string, string>][] = [
    ['hello', 'node', HELLO, NO_CACHE],
    ['node', 'node', SERVER, NO_CACHE],
    ['nodeCache', 'node', SERVER, WITH_CACHE],
    ['npm', 'npm', ['start', '--silent'], NO_CACHE],
    ['npmCache', 'npm', ['start', '--silent'], WITH_CACHE],
  ];
  const times = Object.fromEntries(contenders.map(([k]) => [k, { first: [] as number[], ok: [] as number[] }])) as Record<
    Key,
    { first: number[]; ok: number[] }
  >;
  // one untimed start fills the compile cache (and lets build-if-stale.mjs build when anything changed)
  for (const [, cmd, args, env] of contenders.filter(([k]) => k === 'npmCache' || k === 'nodeCache'))
    await stop((await startServer([...args], { npm_config_update_notifier: 'false', ...env }, cmd)).child);
  for (let r = 0; r < START_ROUNDS; r++) {
    // interleaved, so the host's load hits each contender alike
    for (const [key, cmd, args, env] of contenders) {
      const s = await startServer([...args], { npm_config_update_notifier: 'false', ...env }, cmd);
      times[key].first.push(s.firstMs);
      times[key].ok.push(s.startMs);
      await stop(s.child);
    }
  }
  const m = (k: Key, w: 'first' | 'ok'): number => median(times[k][w]);
  const h = m('hello', 'ok');
  console.log(
    `start to /healthz (median of ${START_ROUNDS}; first answer, 503 before the first tick / first 200), hello-world ${f1(h)} ms:`,
  );
  for (const [k, label, goal] of [
    ['node', 'node dist/src/server.js, no compile cache', 500],
    ['nodeCache', 'node dist/src/server.js, compile cache', 500],
    ['npm', 'npm start, no compile cache', 1000],
    ['npmCache', 'npm start, compile cache', 1000],
  ] as const) {
    console.log(
      `  ${label}: ${f1(m(k, 'first'))} ms / ${f1(m(k, 'ok'))} ms = ${ratio(m(k, 'first'), h)} the hello-world; ${verdict(m(k, 'first') <= goal)} / ${verdict(m(k, 'ok') <= goal)} <= ${goal} ms`,
    );
    figures[`start_${k}_first_ms`] = m(k, 'first');
    figures[`start_${k}_ok_ms`] = m(k, 'ok');
  }
  figures.start_hello_ms = h;
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
  figures.idle_hello_mb = h!;
  figures.idle_node_mb = p!;
  if (l !== undefined) figures.idle_launched_mb = l;
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
  const ticks = await metric(server.port, 'orch_watchdog_ticks_total');
  // flat: the least-squares line through the samples of the last 3/4 of the window (3 of 4 minutes)
  const tail = srv!.slice(Math.floor(srv!.length / 4));
  const { slopePerS, mean: tailMean } = fitLine(tail, 2);
  const changePct = ((slopePerS * tail.length * 2) / tailMean) * 100;
  const max = Math.max(...srv!);
  console.log(
    `scanning ${PROCS} processes every second, ${CHURN} replaced per second, ${SCAN_S} s, ${ticks} ticks: RSS max ${f1(max)} MB, mean of the last ${f1((tail.length * 2) / 60)} min ${f1(tailMean)} MB (hello-world ${f1(median(ref!))} MB)`,
  );
  console.log(
    `  ${verdict(max <= 100)} <= 100 MB; trend over the last ${f1((tail.length * 2) / 60)} min ${f1(slopePerS * 60)} MB/min = ${changePct >= 0 ? '+' : ''}${f1(changePct)}% ${verdict(Math.abs(changePct) <= 5)} flat (+-5%)`,
  );
  figures.scan_rss_max_mb = max;
  figures.scan_rss_tail_mean_mb = tailMean;
  figures.scan_rss_tail_change_pct = changePct;
  figures.scan_ticks = ticks;
  figures.scan_hello_mb = median(ref!);
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
  figures.signals_rps = o!.rps;
  figures.signals_p99_ms = o!.p99Ms;
  figures.hello_rps = t!.rps;
  figures.hello_p99_ms = t!.p99Ms;
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
  figures.node = process.version;
  figures.load_start = load;
  figures.load_end = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`FIGURES ${JSON.stringify(figures)}`);
}

try {
  await main();
} finally {
  killAllGroups();
}
