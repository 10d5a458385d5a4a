import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultKillEnvironment } from '../../src/runner/launch.js';
import { runProcess, type RunOptions, type RunReport } from '../../src/runner/run.js';
import { killRecorded, newTreeRound, recordedPids, survivors, type TreeRound } from '../support/adversarial.js';

const FIXTURES = new URL('../fixtures/runner/', import.meta.url).pathname;
// The trees come up slowly on a loaded 2-core host; every wait below is for a condition.
vi.setConfig({ testTimeout: 150_000 });

const rounds: TreeRound[] = [];
const cgroupsMade: string[] = [];
afterEach(() => {
  for (const round of rounds.splice(0)) {
    killRecorded(round.outDir);
    round.cleanup();
  }
  for (const dir of cgroupsMade.splice(0)) {
    for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (let i = 0; i < 100 && existsSync(dir); i++) {
      try {
        rmdirSync(dir);
      } catch {
        // a killed task leaves its cgroup a moment later
      }
    }
  }
});

/** A cgroup outside the run's, next to the watchdog's own: where the escapee moves itself. */
async function elsewhereCgroup(): Promise<string> {
  const support = await defaultKillEnvironment().cgroups.detect();
  if (!support.ok) throw new Error(support.reason);
  const dir = join(support.parent, '..', `owd-elsewhere-${process.pid}-${cgroupsMade.length}`);
  mkdirSync(dir);
  cgroupsMade.push(dir);
  return dir;
}

/** Runs `script OUT ...extra` and aborts it (the timeout's kill path) once OUT/ready exists or `until` holds. */
async function runUntil(
  script: string,
  extra: string[],
  opts: Partial<RunOptions>,
  until?: (outDir: string) => boolean,
): Promise<{ round: TreeRound; report: RunReport }> {
  const round = newTreeRound();
  rounds.push(round);
  const abort = new AbortController();
  const ready = until ?? ((dir: string) => existsSync(join(dir, 'ready')));
  const poll = setInterval(() => ready(round.outDir) && abort.abort(), 20);
  try {
    const command = ['/bin/sh', join(FIXTURES, script), round.outDir, ...extra];
    const report = await runProcess({ command, timeoutMs: 120_000, graceMs: 300, abortSignal: abort.signal, ...opts });
    return { round, report };
  } finally {
    clearInterval(poll);
  }
}

const receiptPids = (report: RunReport): number[] => report.receipt.processes.map((p) => p.pid);

describe('cgroup strategy: a member that moves itself into another cgroup and calls setsid still dies', () => {
  it('a plain child and a double-forked one both leave the run cgroup and their session; neither survives the run', async () => {
    const other = await elsewhereCgroup();
    const othersMembers = (): number => readFileSync(join(other, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).length;
    let escapedBeforeKill = 0;
    const escaped = (dir: string): boolean =>
      existsSync(join(dir, 'ready')) && (escapedBeforeKill = Math.max(escapedBeforeKill, othersMembers())) >= 2;
    const { round, report } = await runUntil('cgroup-escape.sh', [other], { strategy: 'cgroup' }, escaped);
    // They really escaped: the other cgroup held both before the kill, and holds nothing after.
    expect(escapedBeforeKill).toBeGreaterThanOrEqual(2);
    expect(othersMembers()).toBe(0);
    expect(report.strategy).toBe('cgroup');
    const pids = recordedPids(round.outDir);
    expect(survivors(round.outDir)).toEqual([]);
    expect(receiptPids(report)).toEqual(expect.arrayContaining([pids.get('leader'), pids.get('escapee'), pids.get('double-forked')]));
    expect(report.receipt.survivors).toEqual([]);
    expect(report.receipt.confirmedDead).toBe(report.receipt.processes.length);
  });
});

describe('subreaper strategy: a command that SIGKILLs its own helper', () => {
  it('does not leave itself and its daemon running, and run does not return before they are dead', async () => {
    const { round, report } = await runUntil('helper-kill.sh', [], { strategy: 'subreaper' }, () => false);
    expect(readFileSync(join(round.outDir, 'helper-killed'), 'utf8').trim()).toBe('killed');
    const pids = recordedPids(round.outDir);
    expect(survivors(round.outDir)).toEqual([]);
    expect(report.strategy).toBe('proc-sweep');
    expect(report.degradedReason).toMatch(/subreaper: the helper died \(SIGKILL\) before the command; the tree was killed by proc-sweep/);
    expect(report.killedByGate).toBe(true);
    expect(receiptPids(report)).toEqual(expect.arrayContaining([pids.get('leader'), pids.get('daemon')]));
    expect(report.receipt.confirmedDead).toBe(report.receipt.processes.length);
  });

  it('with a cgroup too, the helper death ends the run at once and the cgroup kills the tree', async () => {
    const { round, report } = await runUntil('helper-kill.sh', [], { strategy: 'cgroup' }, () => false);
    expect(readFileSync(join(round.outDir, 'helper-killed'), 'utf8').trim()).toBe('killed');
    expect(survivors(round.outDir)).toEqual([]);
    expect(report.strategy).toBe('cgroup');
    expect(report.degradedReason).toMatch(/the helper died/);
    expect(report.receipt.survivors).toEqual([]);
  });
});
