/**
 * Tree-kill torture (issue 12): BENCH_ROUNDS (500) rounds of the adversarial escape tree
 * through `orch-watchdog run --timeout --grace --json` on a host with BENCH_EXTRA_PROCS (5,000)
 * extra processes and BENCH_HOGS (2) busy loops. After every `run` returns, the round's members
 * are looked up at once: the target is zero survivors, no member alive after `run` returns.
 * Prints the figures and the wall time. Run with `bash bench/tree-kill-torture.sh` (as root).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { runProcess } from '../src/runner/run.js';
import { receiptToJson } from '../src/runner/tree-kill.js';
import { killRecorded, newTreeRound, recordedPids, survivors } from '../test/support/adversarial.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 500);
const EXTRA = Number(process.env.BENCH_EXTRA_PROCS ?? 5000);
const HOGS = Number(process.env.BENCH_HOGS ?? 2);
const TIMEOUT_S = Number(process.env.BENCH_TIMEOUT_S ?? 0.7);
const GRACE_S = Number(process.env.BENCH_GRACE_S ?? 0.3);
/** `cli`: a fresh `orch-watchdog run` per round (Node start-up included); `runner`: the same runner in this process, as the gate calls it. */
const VIA = process.env.BENCH_VIA === 'runner' ? 'runner' : 'cli';
const BIN = join(process.cwd(), 'bin/orch-watchdog.js');
const LOAD_BIN = join(process.cwd(), 'dist/bench-build/tree-kill-torture-load');

function pct(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function startLoad(): Promise<number> {
  const cc = spawnSync('gcc', ['-O2', '-o', LOAD_BIN, 'bench/tree-kill-torture.c'], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`gcc: ${cc.stderr}`);
  const load = spawn(LOAD_BIN, [String(EXTRA), String(HOGS)], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  await new Promise<void>((resolve) => load.stdout.once('data', () => resolve()));
  return load.pid!;
}

interface Round {
  wallMs: number;
  survivors: number;
  members: number;
  ready: boolean;
  strategy: string;
  confirmedDead: number;
  signalled: number;
  exit: number | null;
}

async function runOnce(command: string[]): Promise<{ stdout: string; status: number | null }> {
  if (VIA === 'cli') {
    return spawnSync(
      process.execPath,
      [BIN, 'run', '--timeout', String(TIMEOUT_S), '--grace', String(GRACE_S), '--json', '--', ...command],
      { encoding: 'utf8', timeout: 120_000 },
    );
  }
  const report = await runProcess({ command, timeoutMs: TIMEOUT_S * 1000, graceMs: GRACE_S * 1000 });
  return {
    stdout: JSON.stringify({ strategy: report.strategy, receipt: receiptToJson(report.receipt) }),
    status: report.result.timed_out ? 124 : report.result.returncode,
  };
}

async function oneRound(): Promise<Round> {
  const round = newTreeRound();
  try {
    const started = performance.now();
    const r = await runOnce(round.command);
    const wallMs = performance.now() - started;
    // Looked up the moment run returned: anything alive now outlived it.
    const alive = survivors(round.outDir);
    let out: { strategy?: string; receipt?: { confirmed_dead: number; processes: unknown[] } } = {};
    try {
      out = JSON.parse(r.stdout) as typeof out;
    } catch {
      // counted below as a broken round
    }
    return {
      wallMs,
      survivors: alive.length,
      members: recordedPids(round.outDir).size,
      ready: existsSync(join(round.outDir, 'ready')),
      strategy: out.strategy ?? 'none',
      confirmedDead: out.receipt?.confirmed_dead ?? -1,
      signalled: out.receipt?.processes.length ?? -1,
      exit: r.status,
    };
  } finally {
    killRecorded(round.outDir);
    round.cleanup();
  }
}

async function main(): Promise<void> {
  const benchStart = performance.now();
  const loadPid = await startLoad();
  const procs = spawnSync('sh', ['-c', 'ls /proc | grep -c "^[0-9]"'], { encoding: 'utf8' }).stdout.trim();
  const via =
    VIA === 'cli'
      ? `\`orch-watchdog run --timeout ${TIMEOUT_S} --grace ${GRACE_S} --json\``
      : `runProcess (timeout ${TIMEOUT_S} s, grace ${GRACE_S} s)`;
  console.log(
    `tree-kill torture: ${ROUNDS} rounds through ${via}; +${EXTRA} idle processes and ${HOGS} busy loops (${procs} processes on the host); ${cpus().length} cores, load ${loadavg()[0]!.toFixed(1)}, node ${process.version}`,
  );
  const rounds: Round[] = [];
  try {
    for (let i = 0; i < ROUNDS; i++) {
      rounds.push(await oneRound());
      if ((i + 1) % 50 === 0) process.stderr.write(`  ${i + 1}/${ROUNDS} (load ${loadavg()[0]!.toFixed(1)})\n`);
    }
  } finally {
    process.kill(-loadPid, 'SIGKILL');
  }
  const walls = rounds.map((r) => r.wallMs).sort((a, b) => a - b);
  const survivorsTotal = rounds.reduce((n, r) => n + r.survivors, 0);
  const strategies = [...new Set(rounds.map((r) => r.strategy))].join(', ');
  const f = (n: number) => n.toFixed(0);
  console.log('');
  console.log(
    '| rounds | strategy | members/round (max) | not ready at timeout | survivors after run returned | rounds with survivors | receipts not all confirmed dead | exit 124 | run wall p50 ms | p95 ms | max ms |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  console.log(
    `| ${rounds.length} | ${strategies} | ${Math.max(...rounds.map((r) => r.members))} | ${rounds.filter((r) => !r.ready).length} | ${survivorsTotal} | ${rounds.filter((r) => r.survivors > 0).length} | ${rounds.filter((r) => r.confirmedDead !== r.signalled).length} | ${rounds.filter((r) => r.exit === 124).length} | ${f(pct(walls, 50))} | ${f(pct(walls, 95))} | ${f(walls.at(-1) ?? NaN)} |`,
  );
  console.log(
    `\nwall time ${((performance.now() - benchStart) / 1000).toFixed(0)} s; target ${survivorsTotal === 0 ? 'MET' : 'NOT MET'} (zero survivors)`,
  );
  process.exitCode = survivorsTotal === 0 ? 0 : 1;
}

void main();
