/**
 * Merge-gate tree-kill benchmark (issue 6). Runs the adversarial tree (plain grandchild, a
 * SIGTERM-ignorer, a setsid escapee, its own process group, a double-forked setsid daemon, a
 * 12-deep chain, a successor spawned on SIGTERM, a setsid burst of 5) under the real timeout,
 * BENCH_ROUNDS times per kill path, and prints survivors and the kill latency (first SIGTERM
 * to every member confirmed dead by /proc state) as p50/p95/max. Target: 0 survivors on the
 * cgroup path and on the fallback (subreaper) path, every member dead within grace + 250 ms.
 * Baselines for scale: the /proc sweep alone, our leader-only kill, and coreutils `timeout -k`.
 * Run with `bash bench/tree-kill.sh` (as root).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { KillEnvironment } from '../src/runner/launch.js';
import { runProcess, type RunOptions } from '../src/runner/run.js';
import { killRecorded, newTreeRound, recordedPids, survivors } from '../test/support/adversarial.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 200);
const GRACE_MS = Number(process.env.BENCH_GRACE_MS ?? 300);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 700);
const BASELINE_ROUNDS = Number(process.env.BENCH_BASELINE_ROUNDS ?? 10);
const TARGET_MS = GRACE_MS + 250;

interface PathResult {
  name: string;
  rounds: number;
  notReady: number;
  roundsWithSurvivors: number;
  survivorsTotal: number;
  processesPerRound: number;
  killMs: number[];
  overTarget: number;
  strategies: Set<string>;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function emptyResult(name: string, rounds: number, strategies: string[] = []): PathResult {
  const zero = { notReady: 0, roundsWithSurvivors: 0, survivorsTotal: 0, processesPerRound: 0, overTarget: 0 };
  return { name, rounds, ...zero, killMs: [], strategies: new Set(strategies) };
}

async function benchRunner(name: string, rounds: number, opts: Partial<RunOptions>): Promise<PathResult> {
  const r = emptyResult(name, rounds);
  for (let i = 0; i < rounds; i++) {
    const round = newTreeRound();
    try {
      const report = await runProcess({ command: round.command, timeoutMs: TIMEOUT_MS, graceMs: GRACE_MS, ...opts });
      r.strategies.add(report.strategy);
      if (!existsSync(join(round.outDir, 'ready'))) r.notReady += 1;
      const alive = survivors(round.outDir);
      r.processesPerRound = Math.max(r.processesPerRound, recordedPids(round.outDir).size);
      if (alive.length > 0) r.roundsWithSurvivors += 1;
      r.survivorsTotal += alive.length;
      const killMs = (report.kill?.killS ?? NaN) * 1000;
      r.killMs.push(killMs);
      if (!(killMs <= TARGET_MS)) r.overTarget += 1;
    } finally {
      killRecorded(round.outDir);
      round.cleanup();
    }
    if ((i + 1) % 50 === 0) process.stderr.write(`  ${name}: ${i + 1}/${rounds}\n`);
  }
  return r;
}

/** coreutils `timeout -k GRACE TIMEOUT`: the leader's group only, the usual CI setup. */
async function benchCoreutils(rounds: number): Promise<PathResult> {
  const r = emptyResult('coreutils timeout -k', rounds, ['timeout(1)']);
  for (let i = 0; i < rounds; i++) {
    const round = newTreeRound();
    try {
      const child = spawn('timeout', ['-k', `${GRACE_MS / 1000}s`, `${TIMEOUT_MS / 1000}s`, ...round.command], { stdio: 'ignore' });
      await new Promise((resolve) => child.once('exit', resolve));
      await new Promise((resolve) => setTimeout(resolve, GRACE_MS + 250));
      if (!existsSync(join(round.outDir, 'ready'))) r.notReady += 1;
      const alive = survivors(round.outDir);
      r.processesPerRound = Math.max(r.processesPerRound, recordedPids(round.outDir).size);
      if (alive.length > 0) r.roundsWithSurvivors += 1;
      r.survivorsTotal += alive.length;
    } finally {
      killRecorded(round.outDir);
      round.cleanup();
    }
  }
  return r;
}

function row(r: PathResult): string {
  const sorted = r.killMs.filter((n) => Number.isFinite(n)).sort((a, b) => a - b);
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '-');
  return `| ${r.name} | ${[...r.strategies].join(', ')} | ${r.rounds} | ${r.processesPerRound} | ${r.survivorsTotal} | ${r.roundsWithSurvivors} | ${f(pct(sorted, 50))} | ${f(pct(sorted, 95))} | ${f(sorted.at(-1) ?? NaN)} | ${sorted.length ? r.overTarget : '-'} | ${r.notReady} |`;
}

async function main(): Promise<void> {
  console.log(
    `tree-kill benchmark: ${ROUNDS} rounds per path, timeout ${TIMEOUT_MS} ms, grace ${GRACE_MS} ms, target: 0 survivors and every member dead within ${TARGET_MS} ms; ${cpus().length} cores, node ${process.version}`,
  );
  const cgroupEnv = new KillEnvironment();
  const support = await cgroupEnv.cgroups.detect();
  if (!support.ok) console.log(`cgroup path unavailable here: ${support.reason} (it will degrade)`);
  const results: PathResult[] = [];
  results.push(await benchRunner('cgroup v2 cgroup.kill', ROUNDS, { strategy: 'cgroup', killEnv: cgroupEnv }));
  results.push(await benchRunner('fallback: subreaper helper', ROUNDS, { strategy: 'subreaper' }));
  if (BASELINE_ROUNDS > 0) {
    results.push(await benchRunner('/proc sweep alone', BASELINE_ROUNDS, { strategy: 'proc-sweep' }));
    results.push(await benchRunner('leader only (tree kill off)', BASELINE_ROUNDS, { treeKill: false }));
    results.push(await benchCoreutils(BASELINE_ROUNDS));
  }
  await cgroupEnv.cgroups.dispose();
  console.log('');
  console.log(
    '| path | strategy | rounds | processes/round | survivors (total) | rounds with survivors | kill p50 ms | kill p95 ms | kill max ms | over target | not ready at timeout |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) console.log(row(r));
  const [cg, fb] = results;
  const ok = (r: PathResult | undefined) => r?.survivorsTotal === 0 && r.overTarget === 0;
  console.log(
    `\ntarget ${ok(cg) && ok(fb) ? 'MET' : 'NOT MET'} (cgroup: ${ok(cg) ? 'ok' : 'missed'}, fallback: ${ok(fb) ? 'ok' : 'missed'})`,
  );
  process.exitCode = ok(cg) && ok(fb) ? 0 : 1;
}

void main();
