import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Signal } from '../watchdog/signal.js';
import { GateCounters } from './counters.js';
import { RunHistory } from './history.js';
import { DEFAULT_MAX_QUEUED, DEFAULT_MAX_QUEUED_PER_REPO, DEFAULT_PRESSURE_POLL_MS, QueueFull } from './gate-options.js';
import type { CancelAnswer, GateRunOptions, GateRunReport, MergeGateOptions } from './gate-options.js';
import { judgeRun, type Judge } from './judge.js';
import { procLockHolderFinder, type LockHolderFinder } from './lock-holders.js';
import { createMergeGateMetrics, type MergeGateMetrics } from './metrics.js';
import { compileLockPatterns } from './output-scan.js';
import { InfraRequeueLedger, requeueDelayMs } from './policy.js';
import { hostPressureProbe, PressureRecorder, type PressureProbe } from './pressure.js';
import { retestEnv } from './retest-env.js';
import { resolveRunAs } from './run-as.js';
import { defaultKillEnvironment, runProcess, type KillEnvironment } from './runner.js';
import { isHeadValidated } from './skip-when-current.js';
import { exhaustedSignal } from './texts.js';
import type { KnownAs, MergeGateCounters, Outcome, RetestRequest, RetestRun, RunAsUser } from './types.js';

export interface MergeGateDeps {
  clock: Clock;
  log: Logger;
  /** The alert sink's edge path: called exactly once per exhaustion. */
  onExhausted?: (signal: Signal) => void;
  registry?: Registry;
  run?: (opts: GateRunOptions) => Promise<GateRunReport>;
  killEnv?: KillEnvironment;
  isHeadValidated?: (cwd: string, validatedSha: string | undefined) => Promise<boolean>;
  pressure?: PressureProbe;
  findLockHolders?: LockHolderFinder;
  /** What the /proc scan knows about a pid (blocking, leftover). */
  knownAs?: (pid: number) => KnownAs | null;
  /** The watchdog's own uid; re-tests never run as it. */
  selfUid?: number;
}

interface Job {
  run: RetestRun;
  request: RetestRequest;
  runAs: RunAsUser;
  seq: number;
  /** When the pressure first held this job back (ms, the gate's clock). */
  heldSince?: number;
}

interface InFlight {
  abort: AbortController;
  done: Promise<void>;
  cancelled: boolean;
}

/**
 * The merge-gate scheduler: FIFO, one re-test at a time per repo, at most `maxParallel` across
 * repos (default 1: CPU starvation is the very problem). A re-queue waits out its back-off, and
 * nothing starts while the CPU is starved (up to `pressureWaitS`).
 */
export class MergeGate {
  private readonly history: RunHistory;
  private queued: Job[] = [];
  private readonly runningRepos = new Set<string>();
  private readonly inFlight = new Map<string, InFlight>();
  private readonly ledger: InfraRequeueLedger;
  private readonly totals = new GateCounters();
  private readonly metrics: MergeGateMetrics | null;
  private readonly judge: Judge;
  private readonly pressure: PressureProbe;
  private seq = 0;
  private closing = false;
  private degradationLogged = false;
  private wake: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly opts: MergeGateOptions,
    private readonly deps: MergeGateDeps,
  ) {
    this.history = new RunHistory(opts.historyMax);
    this.ledger = new InfraRequeueLedger(opts);
    this.metrics = deps.registry ? createMergeGateMetrics(deps.registry, () => this.counters()) : null;
    this.pressure = deps.pressure ?? hostPressureProbe();
    const patterns = compileLockPatterns(opts.lockPatterns);
    for (const r of patterns.rejected)
      deps.log.warn({ pattern: r.source, reason: r.reason }, 'merge gate: lock pattern ignored (it cannot run in linear time)');
    this.judge = judgeRun({
      lockPatterns: patterns.sources,
      findLockHolders: deps.findLockHolders ?? procLockHolderFinder(),
      knownAs: deps.knownAs ?? (() => null),
      log: deps.log,
    });
  }

  /** Queues a fresh request; throws RunAsRefused (400) or QueueFull (429). */
  enqueue(request: RetestRequest): RetestRun {
    const maxPerRepo = this.opts.maxQueuedPerRepo ?? DEFAULT_MAX_QUEUED_PER_REPO;
    const max = this.opts.maxQueued ?? DEFAULT_MAX_QUEUED;
    if (this.queued.length >= max)
      throw new QueueFull(`${this.queued.length} re-tests are queued (at most ${max}); retry later or cancel one`);
    const ofRepo = this.queued.filter((j) => j.request.repo === request.repo).length;
    if (ofRepo >= maxPerRepo)
      throw new QueueFull(`${ofRepo} re-tests of ${request.repo} are queued (at most ${maxPerRepo} per repo); retry later or cancel one`);
    const runAs = resolveRunAs(request.cwd, {
      spec: this.opts.runAs,
      allowRoot: this.opts.allowRoot,
      selfUid: this.deps.selfUid ?? process.getuid?.() ?? -1,
    });
    return structuredClone(this.add(request, runAs, 1));
  }

  get(id: string): RetestRun | undefined {
    return this.history.get(id);
  }

  counters(): MergeGateCounters {
    return this.totals.snapshot(this.inFlight.size, this.queued.length);
  }

  /** A queued run is dropped, a running one killed like a timeout; either ends `cancelled`. */
  async cancel(id: string): Promise<CancelAnswer> {
    const run = this.history.live(id);
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
    if (this.wake) clearTimeout(this.wake);
    for (const { abort } of this.inFlight.values()) abort.abort();
    await Promise.all([...this.inFlight.values()].map((f) => f.done));
    // Removes this process's (now empty) cgroup parent; a later run would simply recreate it.
    await (this.deps.killEnv ?? defaultKillEnvironment()).dispose();
  }

  private add(request: RetestRequest, runAs: RunAsUser, attempt: number, previous?: RetestRun): RetestRun {
    const now = this.deps.clock();
    const run: RetestRun = {
      id: randomUUID(),
      repo: request.repo,
      branch: request.branch,
      status: 'queued',
      attempt,
      queuedAt: now,
      waiting: null,
    };
    if (previous) {
      run.previousId = previous.id;
      const delayMs = requeueDelayMs(previous.attempt, this.opts.requeueDelayS);
      if (delayMs > 0) Object.assign(run, { notBefore: now + delayMs, waiting: 'backoff' });
    }
    run.runAs = { uid: runAs.uid, user: runAs.user };
    this.history.add(run);
    this.queued.push({ run, request, runAs, seq: ++this.seq });
    this.pump();
    return run;
  }

  /** Starts what may start; re-arms one timer for the earliest back-off end or the next pressure look. */
  private pump(): void {
    if (this.wake) clearTimeout(this.wake);
    this.wake = null;
    if (this.closing) return;
    const now = this.deps.clock();
    const pollMs = this.opts.pressurePollMs ?? DEFAULT_PRESSURE_POLL_MS;
    let cpu: number | null | undefined;
    let nextMs = Infinity;
    for (const job of [...this.queued]) {
      if (this.inFlight.size >= this.opts.maxParallel) break;
      if (this.runningRepos.has(job.run.repo)) continue;
      if (job.run.notBefore !== undefined && now < job.run.notBefore) {
        nextMs = Math.min(nextMs, job.run.notBefore - now);
        continue;
      }
      cpu = cpu === undefined ? this.pressure.sample().cpuSomeAvg10 : cpu;
      if (cpu !== null && cpu > this.opts.maxCpuPressure) {
        job.heldSince ??= now;
        if (now - job.heldSince < this.opts.pressureWaitS * 1000) {
          Object.assign(job.run, { waiting: 'cpu_pressure', waitingValue: cpu });
          nextMs = Math.min(nextMs, pollMs, job.heldSince + this.opts.pressureWaitS * 1000 - now);
          continue;
        }
        job.run.startedUnderPressure = true;
        this.deps.log.warn(
          { run_id: job.run.id, cpu_some_avg10: cpu },
          'merge gate: the CPU is still starved; starting the re-test anyway (pressure wait over)',
        );
      }
      this.queued = this.queued.filter((j) => j !== job);
      this.start(job);
    }
    if (nextMs < Infinity) {
      this.wake = setTimeout(() => this.pump(), Math.max(1, nextMs));
      this.wake.unref();
    }
    if (this.inFlight.size === 0 && this.queued.length === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private start(job: Job): void {
    const { run } = job;
    Object.assign(run, { status: 'running', startedAt: this.deps.clock(), waiting: null, waitingValue: undefined });
    this.runningRepos.add(run.repo);
    const flight: InFlight = { abort: new AbortController(), done: Promise.resolve(), cancelled: false };
    flight.done = this.execute(job, flight)
      .catch((err: unknown) => this.deps.log.error({ err, run_id: run.id }, 'merge gate: re-test failed internally'))
      .finally(() => {
        this.runningRepos.delete(run.repo);
        this.inFlight.delete(run.id);
        this.pump();
      });
    this.inFlight.set(run.id, flight);
  }

  private async execute(job: Job, flight: InFlight): Promise<void> {
    const { run, request } = job;
    const headCheck = this.deps.isHeadValidated ?? isHeadValidated;
    if (this.opts.skipWhenCurrent && request.validatedSha && (await headCheck(request.cwd, request.validatedSha))) {
      return this.finish(run, flight.cancelled ? 'cancelled' : 'skipped', null);
    }
    const recorder = new PressureRecorder(this.pressure);
    const sampling = setInterval(() => recorder.observe(), this.opts.pressurePollMs ?? DEFAULT_PRESSURE_POLL_MS);
    sampling.unref();
    let report: GateRunReport;
    try {
      report = await (this.deps.run ?? runProcess)({
        command: request.command,
        cwd: request.cwd,
        env: retestEnv(),
        timeoutMs: (request.timeoutS ?? this.opts.defaultTimeoutS) * 1000,
        graceMs: this.opts.graceS * 1000,
        treeKill: this.opts.treeKill,
        abortSignal: flight.abort.signal,
        runAs: { uid: job.runAs.uid, gid: job.runAs.gid },
        ...(this.deps.killEnv ? { killEnv: this.deps.killEnv } : {}),
      });
    } finally {
      clearInterval(sampling);
    }
    run.pressure = recorder.finish();
    if (flight.cancelled) return this.finish(run, 'cancelled', report);
    if (report.aborted) return this.interrupted(run, report);
    const verdict = await this.judge(report, request.cwd);
    if (verdict.lockHolders.length > 0) run.lockHolders = verdict.lockHolders;
    this.finish(run, verdict.outcome, report, job);
  }

  /** Shutdown cut the budget: not the branch's fault and not counted; the caller posts it again. */
  private interrupted(run: RetestRun, report: GateRunReport): void {
    this.record(run, 'timeout', report);
    run.decision = 'repost';
    this.deps.log.warn({ run_id: run.id, repo: run.repo, branch: run.branch }, 'merge gate: re-test killed by shutdown; post it again');
  }

  private record(run: RetestRun, outcome: Outcome, report: GateRunReport | null): void {
    const now = this.deps.clock();
    Object.assign(run, { status: 'done', finishedAt: now, outcome, waiting: null, waitingValue: undefined });
    run.durationS = report ? report.result.duration_s : Math.max(0, now - (run.startedAt ?? now)) / 1000;
    if (!report) return;
    Object.assign(run, { returncode: report.result.returncode, signal: report.result.signal, strategy: report.strategy });
    if (report.receipt) run.receipt = report.receipt;
    if (report.degradedReason && !this.degradationLogged) {
      this.degradationLogged = true;
      this.deps.log.warn({ strategy: report.strategy, reason: report.degradedReason }, `merge gate: tree kill uses ${report.strategy}`);
    }
    if (report.kill && report.kill.survivors.length > 0) {
      this.deps.log.error(
        { run_id: run.id, survivors: report.kill.survivors.map((s) => s.pid) },
        'merge gate: processes survived the tree kill',
      );
    }
  }

  private finish(run: RetestRun, outcome: Outcome, report: GateRunReport | null, job?: Job): void {
    this.record(run, outcome, report);
    const decision = this.ledger.record(run.repo, run.branch, outcome);
    // Nothing re-queues during shutdown: the caller must post it again.
    if (decision) run.decision = decision === 'requeue' && this.closing ? 'repost' : decision;
    this.totals.runsTotal += 1;
    this.totals.outcomes[outcome] += 1;
    this.metrics?.finished(outcome, run.durationS ?? 0);
    const fields = {
      run_id: run.id,
      repo: run.repo,
      branch: run.branch,
      attempt: run.attempt,
      outcome,
      decision,
      strategy: run.strategy,
      duration_s: run.durationS,
    };
    this.deps.log.info(fields, `merge gate: ${run.repo}@${run.branch} ${outcome} -> ${decision ?? 'none'}`);
    if (run.decision === 'requeue' && job) {
      this.totals.infraRequeues += 1;
      this.metrics?.requeued();
      run.requeuedAs = this.add(job.request, job.runAs, run.attempt + 1, run).id;
    } else if (decision === 'exhausted') {
      this.totals.infraExhausted += 1;
      this.metrics?.exhausted();
      this.deps.onExhausted?.(exhaustedSignal(this.history.chain(run), this.opts.retryMax, this.opts.locale));
    }
  }
}
