import type { Logger } from 'pino';
import { DEFAULT_PRESSURE_POLL_MS, type GateRunOptions, type GateRunReport, type MergeGateOptions } from './gate-options.js';
import { PressureRecorder, type PressureProbe } from './pressure.js';
import type { KillEnvironment } from './runner.js';
import type { MergeDecision, Outcome, PressureEvidence, RetestRequest, RetestRun, RunAs } from './types.js';
import type { Clock } from '../clock.js';
import type { ProcIdentity } from '../proc/identity.js';
import type { RetestRegistry } from '../watchdog/retest-registry.js';

export interface AttemptContext {
  opts: MergeGateOptions;
  run: (opts: GateRunOptions) => Promise<GateRunReport>;
  pressure: PressureProbe;
  killEnv?: KillEnvironment;
  /** Names the attempt's root process as the re-test's until the returned unregister is called. */
  register?: (root: ProcIdentity, timeoutMs: number) => () => void;
}

/** Registers an attempt's root in `retests` as run `runId`'s, until its timeout on `clock`; nothing without a registry. */
export function retestRegistration(retests: RetestRegistry | undefined, runId: string, clock: Clock): AttemptContext['register'] {
  return retests && ((root, timeoutMs) => retests.register(root.pid, root.startTicks, runId, clock() + timeoutMs));
}

/** Runs one attempt's command (whole-tree kill on timeout or abort) while sampling the pressure it runs under. */
export async function runAttempt(
  request: RetestRequest,
  runAs: RunAs,
  abortSignal: AbortSignal,
  ctx: AttemptContext,
): Promise<{ report: GateRunReport; pressure: PressureEvidence }> {
  const { opts } = ctx;
  const recorder = new PressureRecorder(ctx.pressure);
  const sampling = setInterval(() => recorder.observe(), opts.pressurePollMs ?? DEFAULT_PRESSURE_POLL_MS);
  sampling.unref();
  const timeoutMs = (request.timeoutS ?? opts.defaultTimeoutS) * 1000;
  let unregister: (() => void) | undefined;
  try {
    const report = await ctx.run({
      command: request.command,
      cwd: request.cwd,
      env: request.env ?? {},
      timeoutMs,
      graceMs: opts.graceS * 1000,
      treeKill: opts.treeKill,
      abortSignal,
      runAs: { uid: runAs.uid, gid: runAs.gid },
      ...(ctx.killEnv ? { killEnv: ctx.killEnv } : {}),
      onRoot: (root) => (unregister = ctx.register?.(root, timeoutMs)),
    });
    return { report, pressure: await recorder.finish() };
  } finally {
    clearInterval(sampling);
    // however the run ended (pass, timeout, cancel, shutdown, a runner error): what outlives it is no longer the gate's
    unregister?.();
  }
}

/** Logs a degraded tree-kill strategy once per gate, and every survivor of a tree kill. */
export class KillReporter {
  private degradationLogged = false;

  constructor(private readonly log: Logger) {}

  report(run: RetestRun, report: GateRunReport): void {
    if (report.degradedReason && !this.degradationLogged) {
      this.degradationLogged = true;
      this.log.warn({ strategy: report.strategy, reason: report.degradedReason }, `merge gate: tree kill uses ${report.strategy}`);
    }
    if (report.kill && report.kill.survivors.length > 0) {
      this.log.error(
        { run_id: run.id, survivors: report.kill.survivors.map((s) => s.pid) },
        'merge gate: processes survived the tree kill',
      );
    }
  }
}

/** One line per finished attempt; `decision` is the policy's (before a shutdown turns requeue into repost). */
export function logFinished(log: Logger, run: RetestRun, decision: MergeDecision | null): void {
  const { id: run_id, repo, branch, attempt, outcome, strategy, durationS: duration_s, reason } = run;
  const fields = { run_id, repo, branch, attempt, outcome, decision, strategy, duration_s, reason };
  log.info(fields, `merge gate: ${repo}@${branch} ${outcome ?? 'done'} -> ${decision ?? 'none'}`);
}

/** Marks `run` done with `outcome` and what the report says about it (none: it never ran, or a crash cut it). */
export function recordDone(run: RetestRun, outcome: Outcome, report: GateRunReport | null, nowMs: number): void {
  Object.assign(run, { status: 'done', finishedAt: nowMs, outcome, waiting: null, waitingValue: undefined });
  run.durationS = report ? report.result.duration_s : Math.max(0, nowMs - (run.startedAt ?? nowMs)) / 1000;
  if (!report) return;
  Object.assign(run, { returncode: report.result.returncode, signal: report.result.signal, strategy: report.strategy });
  if (report.receipt) run.receipt = report.receipt;
}

/**
 * Ends the trees of re-tests a dead watchdog left in its run cgroups (see CgroupManager.killStaleRuns);
 * logs each one; never throws.
 */
export async function endStaleRuns(killEnv: KillEnvironment, log: Logger): Promise<void> {
  try {
    for (const s of await killEnv.cgroups.killStaleRuns()) {
      if (s.killed)
        log.warn({ cgroup: s.path, pids: s.pids }, 'merge gate: killed the tree of a re-test left running by a watchdog that died');
      else
        log.error(
          { cgroup: s.path, pids: s.pids },
          'merge gate: a dead watchdog left a run cgroup holding this watchdog or an ancestor; nothing signalled',
        );
    }
  } catch (err) {
    log.error({ err }, 'merge gate: stale run cgroups could not be read');
  }
}
