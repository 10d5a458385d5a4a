import { randomUUID } from 'node:crypto';
import type { RestoreContext, StateSection } from '../state/state-store.js';
import { DropLog } from '../watchdog/restore-entries.js';
import { endStaleRuns, isHeadValidated, runAttempt, type MergeGateDeps } from './attempt.js';
import { createMergeGateMetrics, parseGateSnapshot, planRestore, RunHistory, savedJobs, zeroTotals } from './gate-state.js';
import { gateJudge, type Judge } from './classify.js';
import { admit, exhaustedSignal, InfraRequeueLedger, requeueDelayMs, type QueuedJob } from './policy.js';
import { hostPressureProbe, psiFilesUnder, type PressureProbe } from './pressure.js';
import { recheckCwd, resolveRunAs, type RunAsUser } from '../runner/account.js';
import { defaultKillEnvironment } from '../runner/launch.js';
import type { RunReport } from '../runner/run.js';
import { QueueFull, queueFull, type MergeGateOptions, type Outcome } from './types.js';
import type { RetestRequest, RetestRun, StartedTree } from './types.js';

/** `tree`: where its processes live, once started (saved: a restart after kill -9 ends them). */
interface InFlight {
  job: QueuedJob;
  abort: AbortController;
  done: Promise<void>;
  cancelled: boolean;
  tree?: StartedTree;
}

/** The merge-gate scheduler: FIFO, one re-test at a time per repo, at most `maxParallel` (default 1: CPU starvation is the problem). */
export class MergeGate {
  private readonly history: RunHistory;
  private queued: QueuedJob[] = [];
  private readonly inFlight = new Map<string, InFlight>();
  private readonly ledger: InfraRequeueLedger;
  private totals = zeroTotals();
  private readonly metrics: ReturnType<typeof createMergeGateMetrics> | null;
  private readonly judge: Judge;
  readonly pressure: PressureProbe;
  private degradationLogged = false;
  private closing = false;
  /** While a restore ends the trees of a dead watchdog, nothing starts. */
  private held = false;
  /** A state file keeps the queue: shutdown re-queues instead of asking for a repost. */
  private persistent = false;
  private wake: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly opts: MergeGateOptions,
    private readonly deps: MergeGateDeps,
  ) {
    this.history = new RunHistory(opts.historyMax);
    this.ledger = new InfraRequeueLedger(opts);
    this.metrics = deps.registry ? createMergeGateMetrics(deps.registry, () => this.counters()) : null;
    this.pressure = deps.pressure ?? hostPressureProbe(psiFilesUnder(opts.procRoot), deps.log);
    this.judge = gateJudge(opts.mergeLockPatterns, deps.log, deps.findLockHolders, deps.knownAs);
  }

  /** Queues a fresh request; throws RunAsRefused (400) or QueueFull (429). */
  enqueue(request: RetestRequest): RetestRun {
    const full = queueFull(this.queued, request.repo, this.opts);
    if (full) throw new QueueFull(full);
    return structuredClone(this.add(request, this.resolveRunAs(request), 1));
  }

  get(id: string): RetestRun | undefined {
    return structuredClone(this.history.runs.get(id));
  }

  counters() {
    return { ...structuredClone(this.totals), running: this.inFlight.size, queued: this.queued.length };
  }

  /** A queued run is dropped, a running one killed like a timeout; either ends `cancelled`. */
  async cancel(id: string): Promise<{ kind: 'cancelled' | 'done'; run: RetestRun } | { kind: 'unknown' }> {
    const run = this.history.runs.get(id);
    if (!run) return { kind: 'unknown' };
    if (run.status === 'done') return { kind: 'done', run: structuredClone(run) };
    const flight = this.inFlight.get(id);
    if (flight) {
      flight.cancelled = true;
      flight.abort.abort();
      await flight.done;
    } else {
      this.queued = this.queued.filter((j) => j.run.id !== id);
      this.finish(run, 'cancelled', null);
      this.pump();
    }
    return { kind: 'cancelled', run: structuredClone(run) };
  }

  /** Resolves when nothing is queued or running (tests, benchmarks). */
  idle(): Promise<void> {
    if (this.inFlight.size === 0 && this.queued.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Server shutdown: nothing new starts, running re-tests are killed (whole tree) and awaited. */
  async close(): Promise<void> {
    this.closing = true;
    this.pressure.close?.();
    if (this.wake) clearTimeout(this.wake);
    for (const { abort } of this.inFlight.values()) abort.abort();
    await Promise.all([...this.inFlight.values()].map((f) => f.done));
    // Removes this process's (now empty) cgroup parent; a later run would simply recreate it.
    await (this.deps.killEnv ?? defaultKillEnvironment()).cgroups.dispose();
  }

  /** WATCHDOG_STATE_FILE: queued and interrupted re-tests run after a restart; history and counters carry on. */
  stateSection(): StateSection {
    this.persistent = true;
    return { name: 'merge-gate', snapshot: () => this.snapshot(), restore: (data, ctx) => this.restore(data, ctx) };
  }

  private snapshot() {
    const jobs = savedJobs([...this.inFlight.values()], this.queued);
    return { jobs, history: [...this.history.runs.values()], counters: structuredClone(this.totals), ledger: this.ledger.entries() };
  }

  /** Saved values checked, re-tests admitted again as at POST; nothing starts before the dead watchdog's trees are ended. */
  private restore(data: unknown, { stalePids }: RestoreContext): void {
    const { log } = this.deps;
    const drops = new DropLog('merge-gate', log);
    const saved = parseGateSnapshot(data, drops);
    drops.done();
    this.held = true;
    this.history.add(saved.history);
    if (saved.counters) this.totals = { ...saved.counters, outcomes: { ...zeroTotals().outcomes, ...saved.counters.outcomes } };
    this.ledger.restore(saved.ledger);
    const plan = planRestore(saved, (request) => this.resolveRunAs(request), this.opts);
    for (const { run, outcome, why } of plan.ended) {
      this.record(run, outcome, null);
      Object.assign(run, { decision: 'repost', reason: why });
      log.warn({ run_id: run.id, outcome, reason: why }, 'merge gate: a saved re-test cannot run again; post it again');
    }
    for (const job of plan.interrupted) this.interrupted(job, null);
    this.queued.push(...plan.queued);
    log.info({ queued: this.queued.length, history: saved.history.length }, 'merge gate: queue restored');
    const hint = { deadPids: stalePids, trees: saved.trees, graceMs: this.opts.killGraceS * 1000 };
    void endStaleRuns(this.deps.killEnv ?? defaultKillEnvironment(), log, hint).finally(() => {
      this.held = false;
      this.pump();
    });
  }

  private resolveRunAs(request: RetestRequest): RunAsUser {
    return resolveRunAs(request.cwd, this.opts, this.deps.selfUid ?? process.getuid?.() ?? -1);
  }

  /** `resumed`: the same attempt after an interruption: no back-off, and it goes first, as it was running. */
  private add(request: RetestRequest, runAs: RunAsUser, attempt: number, previous?: RetestRun, resumed = false): RetestRun {
    const now = this.deps.clock();
    const { repo, branch } = request;
    const run: RetestRun = { id: randomUUID(), repo, branch, status: 'queued', attempt, queuedAt: now, waiting: null };
    if (previous) {
      run.previousId = previous.id;
      const delayMs = resumed ? 0 : requeueDelayMs(previous.attempt, this.opts.mergeRequeueDelayS);
      if (delayMs > 0) Object.assign(run, { notBefore: now + delayMs, waiting: 'backoff' });
    }
    run.runAs = { uid: runAs.uid, user: runAs.user };
    this.history.add([run]);
    if (resumed) this.queued.unshift({ run, request, runAs });
    else this.queued.push({ run, request, runAs });
    this.pump();
    return run;
  }

  /** Starts what may start; re-arms one timer for the earliest back-off end or the next pressure look. */
  private pump(): void {
    if (this.wake) clearTimeout(this.wake);
    this.wake = null;
    if (this.closing || this.held) return;
    const runningRepos = [...this.inFlight.values()].map((f) => f.job.run.repo);
    const sampleCpu = () => this.pressure.sample().cpuSomeAvg10;
    const { start, nextMs } = admit(this.queued, { now: this.deps.clock(), runningRepos, sampleCpu, log: this.deps.log }, this.opts);
    this.queued = this.queued.filter((j) => !start.includes(j));
    for (const job of start) this.start(job);
    if (nextMs < Infinity) {
      this.wake = setTimeout(() => this.pump(), Math.max(1, nextMs));
      this.wake.unref();
    }
    if (this.inFlight.size === 0 && this.queued.length === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private start(job: QueuedJob): void {
    const { run } = job;
    Object.assign(run, { status: 'running', startedAt: this.deps.clock(), waiting: null, waitingValue: undefined });
    const flight: InFlight = { job, abort: new AbortController(), done: Promise.resolve(), cancelled: false };
    flight.done = this.execute(job, flight)
      .catch((err: unknown) => this.deps.log.error({ err, run_id: run.id }, 'merge gate: re-test failed internally'))
      .finally(() => {
        this.inFlight.delete(run.id);
        this.pump();
      });
    this.inFlight.set(run.id, flight);
  }

  private async execute(job: QueuedJob, flight: InFlight): Promise<void> {
    const { run, request } = job;
    const refusal = recheckCwd(request.cwd, job.runAs);
    if (refusal) return this.finish(run, 'cancelled', null, undefined, refusal);
    const headCheck = this.deps.isHeadValidated ?? ((cwd, sha, runAs) => isHeadValidated(cwd, sha, runAs, this.deps.killEnv));
    if (this.opts.mergeSkipWhenCurrent && request.validatedSha && (await headCheck(request.cwd, request.validatedSha, job.runAs))) {
      return this.finish(run, flight.cancelled ? 'cancelled' : 'skipped', null);
    }
    const { report, pressure } = await runAttempt(job, flight, this.opts, this.deps, this.pressure);
    run.pressure = pressure;
    if (flight.cancelled) return this.finish(run, 'cancelled', report);
    if (report.aborted) return this.interrupted(job, report);
    const verdict = await this.judge(report, request.cwd);
    if (verdict.lockHolders.length > 0) run.lockHolders = verdict.lockHolders;
    this.finish(run, verdict.outcome, report, job);
  }

  /** Shutdown cut the budget (not counted): with a state file the same attempt runs at the next start, else the caller posts it again. */
  private interrupted(job: QueuedJob, report: RunReport | null): void {
    const { run } = job;
    this.record(run, 'timeout', report);
    const fields = { run_id: run.id, repo: run.repo, branch: run.branch };
    if (!this.persistent) {
      run.decision = 'repost';
      this.deps.log.warn(fields, 'merge gate: re-test killed by shutdown; post it again');
      return;
    }
    run.decision = 'requeue';
    run.requeuedAs = this.add(job.request, job.runAs, run.attempt, run, true).id;
    this.deps.log.warn({ ...fields, requeued_as: run.requeuedAs }, 'merge gate: re-test interrupted; queued again for the next start');
  }

  /** Marks `run` done with `outcome` and what the report says (none: it never ran, or a crash cut it). */
  private record(run: RetestRun, outcome: Outcome, report: RunReport | null): void {
    const now = this.deps.clock();
    Object.assign(run, { status: 'done', finishedAt: now, outcome, waiting: null, waitingValue: undefined });
    run.durationS = report ? report.result.duration_s : Math.max(0, now - (run.startedAt ?? now)) / 1000;
    if (!report) return;
    Object.assign(run, { returncode: report.result.returncode, signal: report.result.signal, strategy: report.strategy });
    if (report.receipt) run.receipt = report.receipt;
    const { log } = this.deps;
    if (report.degradedReason && !this.degradationLogged) {
      this.degradationLogged = true;
      log.warn({ strategy: report.strategy, reason: report.degradedReason }, `merge gate: tree kill uses ${report.strategy}`);
    }
    const survivors = report.kill?.survivors.map((s) => s.pid) ?? [];
    if (survivors.length > 0) log.error({ run_id: run.id, survivors }, 'merge gate: processes survived the tree kill');
  }

  /** `refusal`: the gate cancelled the run itself, for this reason; the caller may post it again. */
  private finish(run: RetestRun, outcome: Outcome, report: RunReport | null, job?: QueuedJob, refusal?: string): void {
    this.record(run, outcome, report);
    const decision = this.ledger.record(run.repo, run.branch, outcome);
    // Without a state file nothing re-queues during shutdown: the caller must post it again.
    if (decision) run.decision = decision === 'requeue' && this.closing && !this.persistent ? 'repost' : decision;
    if (refusal) Object.assign(run, { decision: 'repost', reason: refusal });
    this.totals.runsTotal += 1;
    this.totals.outcomes[outcome] += 1;
    this.metrics?.finished(outcome, run.durationS ?? 0);
    const { id: run_id, repo, branch, attempt, strategy, durationS: duration_s, reason } = run;
    const fields = { run_id, repo, branch, attempt, outcome, decision, strategy, duration_s, reason };
    this.deps.log.info(fields, `merge gate: ${repo}@${branch} ${outcome} -> ${decision ?? 'none'}`);
    if (run.decision === 'requeue' && job) {
      this.totals.infraRequeues += 1;
      this.metrics?.requeued();
      run.requeuedAs = this.add(job.request, job.runAs, run.attempt + 1, run).id;
    } else if (decision === 'exhausted') {
      this.totals.infraExhausted += 1;
      this.metrics?.exhausted();
      this.deps.onExhausted?.(exhaustedSignal(this.history.chain(run), this.opts.mergeInfraRetryMax, this.opts.locale));
    }
  }
}
