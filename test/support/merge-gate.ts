import { chownSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import type { MergeGateOptions } from '../../src/merge-gate/types.js';
import type { RunOptions, RunReport } from '../../src/runner/run.js';
import type { PressureProbe, PressureSample } from '../../src/merge-gate/pressure.js';
import type { RetestRequest } from '../../src/merge-gate/types.js';
import type { ProcResult } from '../../src/runner/run.js';

/** Gate options for tests: the default config, but no pressure hold, no back-off, and /tmp (root-owned) allowed as cwd. */
export const gateOptions = (o: Partial<MergeGateOptions> = {}): MergeGateOptions => ({
  ...loadConfig({}).config,
  mergeMaxParallel: 1,
  mergeInfraRetryMax: 3,
  mergeInfraRequeue: true,
  mergeSkipWhenCurrent: true,
  mergeRetestTimeoutS: 900,
  killGraceS: 0.3,
  treeKillEnabled: true,
  mergeLockPatterns: ['database is locked'],
  locale: 'en',
  mergeMaxCpuPressure: 100,
  mergePressureWaitS: 600,
  mergeRequeueDelayS: 0,
  mergeRunAs: '',
  mergeAllowRoot: true,
  ...o,
});

export const retestRequest = (repo: string, branch = 'main', extra: Partial<RetestRequest> = {}): RetestRequest => ({
  repo,
  branch,
  cwd: tmpdir(),
  command: ['true', repo],
  ...extra,
});

export const runReport = (fields: Partial<ProcResult>, extra: Partial<RunReport> = {}): RunReport => ({
  result: { returncode: 0, signal: null, stdout: '', stderr: '', timed_out: false, duration_s: 0.1, ...fields },
  strategy: 'cgroup',
  degradedReason: null,
  aborted: false,
  spawnError: null,
  kill: null,
  leftoverCount: 0,
  killedByGate: false,
  oomKilled: false,
  receipt: { strategy: 'cgroup', processes: [], confirmedDead: 0, survivors: [] },
  ...extra,
});

/** A runner the test finishes by hand: the order and overlap of runs become observable. An abort (close, cancel) finishes it. */
export function manualRunner() {
  const started: { opts: RunOptions; finish: (r: RunReport) => void }[] = [];
  let running = 0;
  let maxRunning = 0;
  const run = (opts: RunOptions) =>
    new Promise<RunReport>((resolve) => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      let settled = false;
      const finish = (r: RunReport) => {
        if (settled) return;
        settled = true;
        running -= 1;
        resolve(r);
      };
      started.push({ opts, finish });
      opts.abortSignal?.addEventListener('abort', () => finish(runReport({ returncode: null, signal: 'SIGTERM' }, { aborted: true })), {
        once: true,
      });
    });
  return { run, started, maxRunning: () => maxRunning, names: () => started.map((s) => s.opts.command[1]) };
}

/**
 * A pressure probe the test turns by hand: `cpu` is the avg10 it reports; each sample moves the
 * PSI totals by `stalledShare` of one simulated second, so a run's stalled share is exactly that.
 */
export function manualPressure(cpu: number | null = 0, stalledShare = 0) {
  let atMs = 0;
  let cpuTotalUs = 0;
  const probe: PressureProbe & { cpu: number | null; stalledShare: number } = {
    cpu,
    stalledShare,
    sample(): PressureSample {
      atMs += 1000;
      cpuTotalUs += this.stalledShare * 1_000_000;
      return { atMs, cpuSomeAvg10: this.cpu, cpuSomeTotalUs: cpuTotalUs, memorySomeTotalUs: 0, source: 'psi' };
    },
  };
  return probe;
}

/** A checkout owned by an ordinary user (nobody), as the orchestrator's are. */
export function userOwnedDir(prefix = 'owd-checkout-', uid = 65534, gid = 65534): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chownSync(dir, uid, gid);
  return dir;
}
