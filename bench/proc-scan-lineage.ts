/**
 * What run tracking costs (issue 11): the warm /proc scan without lineage (the reference, measured
 * in the same run), with lineage, with lineage + runs + owners (the collector's run view), and with
 * locks and ports read for the candidates too. Spawns BENCH_PROCS real sleeping processes (every
 * 50th a pytest-like run under one agent-like shell; every run older than 1 s is a candidate, so
 * owners and leftovers are worked out for all of them), measures interleaved, prints medians.
 * Run with `npx tsc -p bench/tsconfig.json && node dist/bench-build/bench/proc-scan-lineage.js`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { readProcTable } from '../src/proc/proc-table.js';
import { readBootTimeS, readClockTicks } from '../src/proc/read-proc.js';
import { createMatcher, programOf } from '../src/sources/proc/program.js';
import { RunTracker } from '../src/sources/proc/run-tracker.js';
import { buildRunView, MAX_RESOURCE_READS } from '../src/sources/proc/run-view.js';
import { ScanWorker } from '../src/sources/proc/scan-worker.js';
import { AgentDirectory } from '../src/watchdog/agent-directory.js';

const TARGET = Number(process.env.BENCH_PROCS ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);

let group: ChildProcess | null = null;
const cleanup = (): void => {
  try {
    if (group?.pid) process.kill(-group.pid, 'SIGKILL');
  } catch {
    // gone
  }
};
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

const pidCount = (): number => readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Members of our own group: other work on the host starting and ending processes does not skew the count. */
const groupSize = (pgrp: number): number => [...readProcTable().values()].filter((s) => s.pgrp === pgrp).length;

/** bench/sleepers.c (compiled here when missing): forked sleepers, every 50th renamed to a pytest argv. */
async function spawnSleepers(n: number): Promise<number> {
  const bin = 'dist/bench-build/sleepers';
  if (!existsSync(bin)) {
    mkdirSync(dirname(bin), { recursive: true });
    execFileSync('cc', ['-O2', '-o', bin, 'bench/sleepers.c']);
  }
  group = spawn(bin, [String(n), '0', ' '.repeat(96)], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${groupSize(group!.pid!)} of ${n} processes started within 600 s`)), 600_000);
    group!.stdout!.on('data', (b: Buffer) => {
      if (b.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    group!.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sleepers exited with ${code}`));
    });
  });
  return group.pid!;
}

async function main(): Promise<void> {
  const agentPid = await spawnSleepers(TARGET);
  await delay(1500); // every run older than the 1 s threshold
  const matcherOpts = { patterns: ['pytest'], exclude: [], mode: 'program' as const };
  const base = { root: '/proc', ...matcherOpts, recheckMs: 600_000, cmdlineMaxBytes: 4096 };
  const plain = new ScanWorker({ ...base, lineage: false });
  const lineage = new ScanWorker({ ...base, lineage: true });
  const matcher = createMatcher(matcherOpts, programOf);
  const agents = new AgentDirectory();
  agents.update([{ runId: '678', pid: agentPid, task: 'ORCH-111', stage: 'tester' }], Date.now());
  const runs = new RunTracker();
  const clockOf = async () => ({ btimeS: await readBootTimeS(), clkTck: await readClockTicks(), nowMs: Date.now(), thresholdS: 1 });
  const clock = await clockOf();
  const view = (scan: Awaited<ReturnType<ScanWorker['scan']>>, resources: boolean) =>
    buildRunView({
      scan,
      runs,
      clock: { ...clock, nowMs: Date.now() },
      procRoot: '/proc',
      matcher,
      leftoverGraceS: 120,
      cmdlineMaxBytes: 4096,
      agents,
      maxResourceReads: resources ? MAX_RESOURCE_READS : 0,
    });
  await plain.scan();
  await view(await lineage.scan(), true); // cold scans outside the measurement
  const t = { plain: [] as number[], lineage: [] as number[], runsOwners: [] as number[], withResources: [] as number[] };
  let candidates = 0;
  let owned = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let s = performance.now();
    await plain.scan();
    t.plain.push(performance.now() - s);
    s = performance.now();
    await lineage.scan();
    t.lineage.push(performance.now() - s);
    s = performance.now();
    const v = await view(await lineage.scan(), false);
    t.runsOwners.push(performance.now() - s);
    s = performance.now();
    await view(await lineage.scan(), true);
    t.withResources.push(performance.now() - s);
    candidates = v.candidates.length;
    owned = v.candidates.filter((c) => c.owner?.kind === 'agent').length;
  }
  await plain.close();
  await lineage.close();
  const m = {
    plain: median(t.plain),
    lineage: median(t.lineage),
    runsOwners: median(t.runsOwners),
    withResources: median(t.withResources),
  };
  const pct = (x: number): string => {
    const p = ((x - m.plain) / m.plain) * 100;
    return `${p >= 0 ? '+' : ''}${p.toFixed(1)} %`;
  };
  console.log(
    `${pidCount()} processes, ${candidates} candidates (${owned} owned by the agent-like shell), ${ROUNDS} interleaved rounds, medians:`,
  );
  console.log(`warm scan without lineage (reference)      ${m.plain.toFixed(1)} ms`);
  console.log(`warm scan with lineage                     ${m.lineage.toFixed(1)} ms  (${pct(m.lineage)})`);
  console.log(`+ runs, leftovers, owners (run view)       ${m.runsOwners.toFixed(1)} ms  (${pct(m.runsOwners)})  target <= +10 %`);
  console.log(`+ locks and ports of the candidates        ${m.withResources.toFixed(1)} ms  (${pct(m.withResources)})`);
}

try {
  await main();
} finally {
  cleanup();
}
