/**
 * A full tick's /proc work: `ProcCollector.collect()` as the tick calls it (the worker's scan, run
 * tracking, owners, leftovers, locks and ports, signals) over BENCH_PROCS real processes
 * (bench/sleepers.c: every 50th renamed to a pytest argv, all below one agent-like parent listed in
 * the agent directory) plus BENCH_LEFTOVER_RUNS finished runs whose two children live on. Against
 * the references, measured in the same run and interleaved tick by tick so the host's noise hits
 * every contender alike: a Python loop reading /proc/<pid>/stat once per pid, and one scrape of
 * prometheus-process-exporter with a pytest matcher (if installed). The collector ticks every
 * second, as a busy deployment would run it, warmed up first; the main thread's event-loop delay
 * is measured over the same ticks. Run with `bash bench/proc-scan.sh`.
 * The last line, `FIGURES {json}`, holds the medians for bench/figures.ts.
 * Env: BENCH_PROCS (5000), BENCH_ROUNDS (15), BENCH_WARMUP_S (15), BENCH_LEFTOVER_RUNS (10).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { ProcCollector } from '../src/sources/proc/collector.js';
import { AgentDirectory } from '../src/watchdog/agent-directory.js';

const TARGET = Number(process.env.BENCH_PROCS ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 15);
const LEFTOVER_RUNS = Number(process.env.BENCH_LEFTOVER_RUNS ?? 10);
const EXPORTER_PORT = 19256;
const run = promisify(execFile);

const started: ChildProcess[] = [];
let exporter: ChildProcess | null = null;

function cleanup(): void {
  for (const child of started) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  exporter?.kill('SIGKILL');
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

const pidCount = (): number => readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number): string => n.toFixed(1);

/** bench/sleepers.c (compiled here when missing): forked sleepers, every 50th renamed to a pytest argv. */
async function spawnSleepers(n: number): Promise<number> {
  const bin = 'dist/bench-build/sleepers';
  if (!existsSync(bin)) {
    mkdirSync(dirname(bin), { recursive: true });
    execFileSync('cc', ['-O2', '-o', bin, 'bench/sleepers.c']);
  }
  const group = spawn(bin, [String(n), '0', ' '.repeat(96)], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  started.push(group);
  await new Promise<void>((resolve, reject) => {
    group.stdout.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
    group.once('exit', (code) => reject(new Error(`sleepers exited with ${code}`)));
  });
  return group.pid!;
}

/** Runs whose top (a retitled pytest) has two sleeping children: killed later, the children are its leftovers. */
function spawnRuns(n: number): ChildProcess[] {
  return Array.from({ length: n }, (_, i) => {
    const run = spawn('bash', ['-c', `sleep 3600 & sleep 3600 & exec -a "python3 -m pytest tests/test_left_${i}.py" sleep 3600`], {
      detached: true,
      stdio: 'ignore',
    });
    started.push(run);
    return run;
  });
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
t = time.perf_counter(); scan(); print(json.dumps((time.perf_counter() - t) * 1000))
`;

/** Run beside the event loop (execFileSync would stall it for the Python start-up). */
const pythonReference = async (): Promise<number> => JSON.parse((await run('python3', ['-c', PY_REFERENCE])).stdout) as number;

async function startExporter(): Promise<boolean> {
  const bin = '/usr/bin/prometheus-process-exporter';
  if (!existsSync(bin)) return false;
  const cfg = '/tmp/orch-bench-process-exporter.yml';
  writeFileSync(cfg, 'process_names:\n  - name: "{{.Comm}}"\n    cmdline:\n    - pytest\n');
  exporter = spawn(bin, ['-config.path', cfg, '-web.listen-address', `127.0.0.1:${EXPORTER_PORT}`], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    try {
      await (await fetch(`http://127.0.0.1:${EXPORTER_PORT}/metrics`)).text();
      return true;
    } catch {
      await sleep(100);
    }
  }
  return false;
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

async function main(): Promise<void> {
  const log = createLogger({ level: 'silent' });
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const hasExporter = await startExporter();
  if (!hasExporter) console.log('prometheus-process-exporter not installed: run bench/proc-scan.sh (apt-get installs it)');
  const agentPid = await spawnSleepers(TARGET);
  const runs = spawnRuns(LEFTOVER_RUNS);
  await sleep(1500); // every run older than the 1 s alert age
  const agents = new AgentDirectory();
  agents.update([{ runId: '678', pid: agentPid, task: 'ORCH-111', stage: 'tester' }]);
  const config = { ...loadConfig({}).config, procEnabled: true, procPatterns: ['pytest'], procAgeMin: 1 / 60, procLeftoverGraceS: 0 };
  const collector = new ProcCollector(config, { log, agents, allowReap: false });
  const collect = () => collector.collect({ abortSignal: new AbortController().signal, now: Date.now(), log });
  const cold = await timed(collect);
  for (const run of runs) run.kill('SIGKILL'); // their children are leftovers from the next tick on
  // a tick a second, as a busy deployment would run it: WARMUP_S to reach the steady state, then ROUNDS measured
  const t = { reference: [] as number[], ours: [] as number[], exporter: [] as number[] };
  const h = monitorEventLoopDelay({ resolution: 1 });
  for (let r = -WARMUP_S; r < ROUNDS; r++) {
    const started = performance.now();
    const took = await timed(collect);
    if (r === 0) h.enable();
    if (r >= 0) {
      t.ours.push(took);
      t.reference.push(await pythonReference());
      if (hasExporter && r < 5) t.exporter.push(await timed(async () => (await fetch(`http://127.0.0.1:${EXPORTER_PORT}/metrics`)).text()));
    }
    await sleep(Math.max(0, 1000 - (performance.now() - started)));
  }
  h.disable();
  const candidates = collector.view().candidates;
  await collector.close();
  const m = { reference: median(t.reference), ours: median(t.ours), exporter: t.exporter.length > 0 ? median(t.exporter) : null };
  console.log(
    `node ${process.version}, ${execFileSync('nproc', { encoding: 'utf8' }).trim()} cores, load average ${load} at start; ${pidCount()} processes, ` +
      `${candidates.length} candidates (${candidates.filter((c) => c.match === 'leftover').length} leftovers, ` +
      `${candidates.filter((c) => c.owner?.kind === 'agent').length} owned by the agent-like parent); a tick a second, medians of ${ROUNDS}:`,
  );
  console.log(`  reference (Python, one stat per pid)  ${fmt(m.reference)} ms`);
  console.log(`  full tick (ProcCollector.collect)     ${fmt(m.ours)} ms (the first, cold: ${fmt(cold)} ms)`);
  if (m.exporter !== null) console.log(`  process-exporter scrape               ${fmt(m.exporter)} ms`);
  console.log('--- ratios (same run) ---');
  console.log(`full tick / reference loop    = ${(m.ours / m.reference).toFixed(2)}`);
  if (m.exporter !== null) console.log(`process-exporter / full tick  = ${(m.exporter / m.ours).toFixed(1)}`);
  console.log(`event-loop delay over the ${ROUNDS} measured ticks: p99 ${fmt(h.percentile(99) / 1e6)} ms, max ${fmt(h.max / 1e6)} ms`);
  // for bench/figures.ts
  const figures = {
    node: process.version,
    load_start: load,
    reference_ms: m.reference,
    tick_ms: m.ours,
    exporter_ms: m.exporter,
    candidates: candidates.length,
  };
  console.log(`FIGURES ${JSON.stringify(figures)}`);
}

try {
  await main();
} finally {
  cleanup();
}
