/**
 * /proc scan benchmark (issue 3). Spawns thousands of real sleeping processes (every 50th with a
 * pytest-like argv) and measures, interleaved so machine noise hits every contender alike:
 *   - the reference: a Python loop reading /proc/<pid>/stat once per pid (timed in-process);
 *   - a naive Node readFileSync scan;
 *   - our scan (worker thread, warm cache, kept stat fds; the cold first scan; variants without
 *     kept fds and with two threads);
 *   - prometheus-process-exporter's /metrics scrape with a pytest matcher (if installed);
 *   - event-loop delay p99 of the main thread while the collector scans every second.
 * Prints the three ratios of the issue. Run with `bash bench/proc-scan.sh` (as root).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ProcCollector } from '../src/sources/proc/collector.js';
import { ScanWorker } from '../src/sources/proc/scan-worker.js';
import { defaultConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';

const TARGET = Number(process.env.BENCH_PROCS ?? 5000);
const STEPS = (process.env.BENCH_STEPS ?? `1000,2500,${TARGET}`).split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const LOOP_S = Number(process.env.BENCH_LOOP_S ?? 15);
const EXPORTER_PORT = 19256;

const groups: ChildProcess[] = [];
let exporter: ChildProcess | null = null;

function cleanup(): void {
  for (const g of groups) {
    try {
      process.kill(-g.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  try {
    exporter?.kill('SIGKILL');
  } catch {
    // already gone
  }
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

const pidCount = (): number => readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One session of `n` sleeping processes; killed as a group at the end. */
async function spawnSleepers(n: number, tag: string): Promise<void> {
  const before = pidCount();
  const script = `for ((i=0;i<${n};i++)); do if (( i % 50 == 0 )); then (exec -a "python3 -m pytest tests/test_${tag}_$i.py -x" sleep 3600) & else sleep 3600 & fi; done; wait`;
  const g = spawn('bash', ['-c', script], { detached: true, stdio: 'ignore' });
  groups.push(g);
  const deadline = Date.now() + 120_000;
  while (pidCount() < before + n) {
    if (Date.now() > deadline) throw new Error(`only ${pidCount() - before} of ${n} processes started`);
    await sleep(200);
  }
}

const PY_REFERENCE = `
import os, sys, time, json
def scan():
    n = 0
    for name in os.listdir('/proc'):
        if not name.isdigit(): continue
        try:
            with open('/proc/' + name + '/stat', 'rb') as f: f.read()
            n += 1
        except OSError: pass
    return n
scan()
out = []
for _ in range(int(sys.argv[1])):
    t = time.perf_counter(); scan(); out.append((time.perf_counter() - t) * 1000)
print(json.dumps(out))
`;

function pythonReference(runs: number): number[] {
  return JSON.parse(execFileSync('python3', ['-c', PY_REFERENCE, String(runs)], { encoding: 'utf8' })) as number[];
}

function naiveNode(): number {
  const t = performance.now();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      // exited
    }
  }
  return performance.now() - t;
}

async function startExporter(): Promise<boolean> {
  const bin = ['/usr/bin/prometheus-process-exporter'].find((p) => {
    try {
      execFileSync(p, ['-version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
  if (!bin) return false;
  const cfg = '/tmp/orch-bench-process-exporter.yml';
  writeFileSync(cfg, 'process_names:\n  - name: "{{.Comm}}"\n    cmdline:\n    - pytest\n');
  exporter = spawn(bin, ['-config.path', cfg, '-web.listen-address', `127.0.0.1:${EXPORTER_PORT}`], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    try {
      await fetch(`http://127.0.0.1:${EXPORTER_PORT}/metrics`);
      return true;
    } catch {
      await sleep(100);
    }
  }
  return false;
}

async function scrapeExporter(): Promise<number> {
  const t = performance.now();
  const res = await fetch(`http://127.0.0.1:${EXPORTER_PORT}/metrics`);
  await res.text();
  return performance.now() - t;
}

async function timeOurs(worker: ScanWorker): Promise<number> {
  const t = performance.now();
  await worker.scan();
  return performance.now() - t;
}

interface StepResult {
  processes: number;
  reference: number;
  naive: number;
  oursCold: number;
  ours: number;
  oursTwoThreads: number;
  oursNoKeptFds: number;
  exporter: number | null;
}

async function measure(hasExporter: boolean): Promise<StepResult> {
  const processes = pidCount();
  const opts = {
    root: '/proc',
    patterns: ['pytest'],
    exclude: [],
    mode: 'program' as const,
    lineage: true,
    recheckMs: 60_000,
    cmdlineMaxBytes: 4096,
  };
  const worker = new ScanWorker(opts);
  const two = new ScanWorker(opts, 2);
  const noKept = new ScanWorker({ ...opts, maxHeldFds: 0 });
  const oursCold = await timeOurs(worker);
  await timeOurs(two);
  await timeOurs(noKept);
  const ref: number[] = [];
  const ours: number[] = [];
  const ours2: number[] = [];
  const oursNk: number[] = [];
  const naive: number[] = [];
  const exp: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // interleaved: each round runs every contender once, back to back
    ref.push(...pythonReference(1));
    ours.push(await timeOurs(worker));
    ours2.push(await timeOurs(two));
    oursNk.push(await timeOurs(noKept));
    naive.push(naiveNode());
    if (hasExporter && r < 5) exp.push(await scrapeExporter());
  }
  await worker.close();
  await two.close();
  await noKept.close();
  return {
    processes,
    reference: median(ref),
    naive: median(naive),
    oursCold,
    ours: median(ours),
    oursTwoThreads: median(ours2),
    oursNoKeptFds: median(oursNk),
    exporter: exp.length ? median(exp) : null,
  };
}

/** The main thread while the app's collector scans every second (worker scan + candidates + signals). */
async function eventLoopWhileScanning(): Promise<{ p99: number; max: number; scans: number; scanMedian: number }> {
  const config = { ...defaultConfig(), procEnabled: true, procPatterns: ['pytest'], procAgeMin: 0 };
  const collector = new ProcCollector(config, { log: createLogger({ level: 'silent' }) });
  const log = createLogger({ level: 'silent' });
  await collector.collect({ abortSignal: new AbortController().signal, now: Date.now(), log }); // cold scan outside the window
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const times: number[] = [];
  const until = Date.now() + LOOP_S * 1000;
  while (Date.now() < until) {
    const t = performance.now();
    await collector.collect({ abortSignal: new AbortController().signal, now: Date.now(), log });
    times.push(performance.now() - t);
    await sleep(Math.max(0, 1000 - (performance.now() - t)));
  }
  h.disable();
  await collector.close();
  return { p99: h.percentile(99) / 1e6, max: h.max / 1e6, scans: times.length, scanMedian: median(times) };
}

const fmt = (n: number): string => n.toFixed(1);

async function main(): Promise<void> {
  const base = pidCount();
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(
    `node ${process.version}, ${execFileSync('nproc', { encoding: 'utf8' }).trim()} cores, CLK_TCK ${execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()}, ${base} processes before spawning, load average ${load}`,
  );
  const hasExporter = await startExporter();
  if (!hasExporter) console.log('prometheus-process-exporter not installed: run bench/proc-scan.sh (apt-get installs it)');
  const results: StepResult[] = [];
  let spawned = 0;
  for (const step of STEPS) {
    await spawnSleepers(step - spawned, String(step));
    spawned = step;
    await sleep(500);
    const r = await measure(hasExporter);
    results.push(r);
    console.log(
      `${r.processes} processes: reference(python) ${fmt(r.reference)} ms, naive readFileSync ${fmt(r.naive)} ms, ours ${fmt(r.ours)} ms (cold ${fmt(r.oursCold)} ms; without kept fds ${fmt(r.oursNoKeptFds)} ms; two threads ${fmt(r.oursTwoThreads)} ms)` +
        (r.exporter === null ? '' : `, process-exporter ${fmt(r.exporter)} ms`),
    );
  }
  const last = results.at(-1)!;
  const first = results[0]!;
  const perK = (a: StepResult, b: StepResult, key: 'ours' | 'oursNoKeptFds' | 'reference'): number =>
    ((b[key] - a[key]) / (b.processes - a.processes)) * 1000;
  console.log(
    `cost per 1000 extra processes: ours ${fmt(perK(first, last, 'ours'))} ms (without kept fds ${fmt(perK(first, last, 'oursNoKeptFds'))} ms), reference ${fmt(perK(first, last, 'reference'))} ms`,
  );
  const loop = await eventLoopWhileScanning();
  console.log(
    `event loop while scanning ${pidCount()} processes every second for ${LOOP_S} s: p99 ${fmt(loop.p99)} ms, max ${fmt(loop.max)} ms (${loop.scans} scans, median collect ${fmt(loop.scanMedian)} ms)`,
  );
  console.log('--- ratios ---');
  console.log(`ours / reference loop   = ${(last.ours / last.reference).toFixed(2)}  (target <= 1.3)`);
  if (last.exporter !== null) console.log(`process-exporter / ours = ${(last.exporter / last.ours).toFixed(1)}  (target >= 20)`);
  console.log(`event-loop delay p99    = ${fmt(loop.p99)} ms  (target <= 20 ms)`);
}

try {
  await main();
} finally {
  cleanup();
}
