import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { isoUtc, type Clock } from '../clock.js';
import { t, type Locale } from '../i18n.js';
import { makeSignal, type Signal } from '../watchdog/signal.js';
import type { Config } from '../config.js';
import { classify, compileLockPatterns } from './classify.js';
import { GateCounters } from './counters.js';
import { createMergeGateMetrics, type MergeGateMetrics } from './metrics.js';
import { InfraRequeueLedger } from './policy.js';
import { defaultKillEnvironment, runProcess, type KillEnvironment, type RunOptions, type RunReport } from './runner.js';
import { isHeadValidated } from './skip-when-current.js';
import type { MergeGateCounters, Outcome, RetestRequest, RetestRun } from './types.js';

export interface MergeGateOptions {
  maxParallel: number;
  retryMax: number;
  skipWhenCurrent: boolean;
  defaultTimeoutS: number;
  graceS: number;
  treeKill: boolean;
  lockPatterns: RegExp[];
  locale: Locale;
  /** Finished runs kept for GET /merge-gate/retests/:id; queued and running ones are always kept. */
  historyMax?: number;
}

export interface MergeGateDeps {
  clock: Clock;
  log: Logger;
  /** The edge alert path (the watchdog's emitEdge): called exactly once per exhaustion. */
  onExhausted?: (signal: Signal) => void;
  registry?: Registry;
  run?: (opts: RunOptions) => Promise<RunReport>;
  killEnv?: KillEnvironment;
  isHeadValidated?: (cwd: string, validatedSha: string | undefined) => Promise<boolean>;
}

interface Job {
  run: RetestRun;
  request: RetestRequest;
  seq: number;
}

const DEFAULT_HISTORY_MAX = 1000;

/** The watchdog's own settings hold secrets (API token, bot token, webhook secret): a test suite gets none of them. */
export function retestEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('WATCHDOG_')));
}

/**
 * The merge-gate queue: FIFO per repo, one re-test at a time per repo, at most `maxParallel`
 * across repos (default 1: CPU starvation is the very problem). Infra outcomes re-enqueue the
 * same request as a new attempt until the per-branch budget is spent.
 */
export class MergeGate {
  private readonly runs = new Map<string, RetestRun>();
  private readonly queues = new Map<string, Job[]>();
  private readonly runningRepos = new Set<string>();
  private readonly inFlight = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly ledger: InfraRequeueLedger;
  private readonly totals = new GateCounters();
  private readonly metrics: MergeGateMetrics | null;
  private seq = 0;
  private queuedCount = 0;
  private closing = false;
  private degradationLogged = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly opts: MergeGateOptions,
    private readonly deps: MergeGateDeps,
  ) {
    this.ledger = new InfraRequeueLedger(opts.retryMax);
    this.metrics = deps.registry ? createMergeGateMetrics(deps.registry, () => this.counters()) : null;
  }

  enqueue(request: RetestRequest, attempt = 1, previousId?: string): RetestRun {
    const run: RetestRun = {
      id: randomUUID(),
      repo: request.repo,
      branch: request.branch,
      status: 'queued',
      attempt,
      queued_at: isoUtc(this.deps.clock()),
      ...(previousId ? { previous_id: previousId } : {}),
    };
    this.runs.set(run.id, run);
    const queue = this.queues.get(request.repo) ?? [];
    queue.push({ run, request, seq: ++this.seq });
    this.queues.set(request.repo, queue);
    this.queuedCount += 1;
    this.trimHistory();
    this.pump();
    return { ...run };
  }

  get(id: string): RetestRun | undefined {
    const run = this.runs.get(id);
    return run ? { ...run } : undefined;
  }

  counters(): MergeGateCounters {
    return this.totals.snapshot(this.inFlight.size, this.queuedCount);
  }

  /** Resolves when nothing is queued or running (tests, benchmarks). */
  idle(): Promise<void> {
    if (this.inFlight.size === 0 && this.queuedCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Server shutdown: nothing new starts, running re-tests are killed (whole tree) and awaited. */
  async close(): Promise<void> {
    this.closing = true;
    for (const { abort } of this.inFlight.values()) abort.abort();
    await Promise.all([...this.inFlight.values()].map((f) => f.done));
    // Removes this process's (now empty) cgroup parent; a later run would simply recreate it.
    await (this.deps.killEnv ?? defaultKillEnvironment()).dispose();
  }

  private pump(): void {
    while (!this.closing && this.inFlight.size < this.opts.maxParallel) {
      let next: Job | undefined;
      for (const [repo, queue] of this.queues) {
        const head = queue[0];
        if (head && !this.runningRepos.has(repo) && (!next || head.seq < next.seq)) next = head;
      }
      if (!next) break;
      this.queues.get(next.run.repo)!.shift();
      this.queuedCount -= 1;
      this.start(next);
    }
    if (this.inFlight.size === 0 && this.queuedCount === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private start(job: Job): void {
    const { run } = job;
    run.status = 'running';
    run.started_at = isoUtc(this.deps.clock());
    this.runningRepos.add(run.repo);
    const abort = new AbortController();
    const done = this.execute(job, abort.signal)
      .catch((err: unknown) => this.deps.log.error({ err, run_id: run.id }, 'merge gate: re-test failed internally'))
      .finally(() => {
        this.runningRepos.delete(run.repo);
        this.inFlight.delete(run.id);
        this.pump();
      });
    this.inFlight.set(run.id, { abort, done });
  }

  private async execute(job: Job, abortSignal: AbortSignal): Promise<void> {
    const { run, request } = job;
    const { log } = this.deps;
    const started = this.deps.clock();
    let outcome: Outcome;
    let report: RunReport | null = null;
    const headCheck = this.deps.isHeadValidated ?? isHeadValidated;
    if (this.opts.skipWhenCurrent && request.validated_sha && (await headCheck(request.cwd, request.validated_sha))) {
      outcome = 'skipped';
    } else {
      report = await (this.deps.run ?? runProcess)({
        command: request.command,
        cwd: request.cwd,
        env: retestEnv(),
        timeoutMs: (request.timeout_s ?? this.opts.defaultTimeoutS) * 1000,
        graceMs: this.opts.graceS * 1000,
        treeKill: this.opts.treeKill,
        abortSignal,
        ...(this.deps.killEnv ? { killEnv: this.deps.killEnv } : {}),
      });
      // Shutdown cut the budget: infra, not the branch's fault (handled below, never counted).
      outcome = report.aborted ? 'timeout' : classify(report.result, this.opts.lockPatterns);
    }

    run.status = 'done';
    run.finished_at = isoUtc(this.deps.clock());
    run.duration_s = report ? report.result.duration_s : Math.max(0, this.deps.clock() - started) / 1000;
    run.outcome = outcome;
    if (report) {
      run.returncode = report.result.returncode;
      run.signal = report.result.signal;
      run.strategy = report.strategy;
    }
    const fields = { run_id: run.id, repo: run.repo, branch: run.branch, attempt: run.attempt, outcome, strategy: run.strategy, duration_s: run.duration_s };
    if (report?.degradedReason && !this.degradationLogged) {
      this.degradationLogged = true;
      log.warn({ strategy: report.strategy, reason: report.degradedReason }, `merge gate: tree kill uses ${report.strategy}`);
    }
    if (report?.kill && report.kill.survivors.length > 0) {
      log.error({ ...fields, survivors: report.kill.survivors.map((s) => s.pid) }, 'merge gate: processes survived the tree kill');
    }

    if (report?.aborted) {
      // Not counted against the branch; the caller re-posts.
      run.decision = 'requeue';
      log.warn(fields, 'merge gate: re-test killed by shutdown; re-post it');
      return;
    }

    const decision = this.ledger.record(run.repo, run.branch, outcome);
    run.decision = decision;
    this.totals.runsTotal += 1;
    this.totals.outcomes[outcome] += 1;
    this.metrics?.finished(outcome, run.duration_s);
    log.info({ ...fields, decision }, `merge gate: ${run.repo}@${run.branch} ${outcome} -> ${decision}`);

    if (decision === 'requeue') {
      this.totals.infraRequeues += 1;
      this.metrics?.requeued();
      if (!this.closing) run.requeued_as = this.enqueue(request, run.attempt + 1, run.id).id;
    } else if (decision === 'exhausted') {
      this.totals.infraExhausted += 1;
      this.metrics?.exhausted();
      this.deps.onExhausted?.(this.exhaustedSignal(run, outcome));
    }
  }

  private exhaustedSignal(run: RetestRun, outcome: Outcome): Signal {
    const { locale, retryMax } = this.opts;
    const where = `${run.repo}@${run.branch}`;
    return makeSignal({
      family: 'merge_gate_exhausted',
      entity: where,
      active: true,
      severity: 'critical',
      title: t(locale, { en: 'Merge gate gave up on a branch', ru: 'Merge gate сдался на ветке' }),
      detail: t(locale, {
        en: `${where}: ${outcome} again after ${retryMax} infra re-queue(s) (attempt ${run.attempt}, run ${run.id}); the branch was neither merged nor rolled back — check the CI host (CPU, locks).`,
        ru: `${where}: снова ${outcome} после ${retryMax} повторов из-за инфраструктуры (попытка ${run.attempt}, запуск ${run.id}); ветка не влита и не откачена — проверьте CI-хост (CPU, блокировки).`,
      }),
    });
  }

  /** Bounded memory: the oldest finished runs go first; queued and running ones stay. */
  private trimHistory(): void {
    const max = this.opts.historyMax ?? DEFAULT_HISTORY_MAX;
    if (this.runs.size <= max) return;
    for (const [id, run] of this.runs) {
      if (this.runs.size <= max) break;
      if (run.status === 'done') this.runs.delete(id);
    }
  }
}

/** The gate's options from the WATCHDOG_MERGE_* / tree-kill keys. */
export function mergeGateOptionsFrom(config: Config): MergeGateOptions {
  return {
    maxParallel: config.mergeMaxParallel,
    retryMax: config.mergeInfraRetryMax,
    skipWhenCurrent: config.mergeSkipWhenCurrent,
    defaultTimeoutS: config.mergeRetestTimeoutS,
    graceS: config.killGraceS,
    treeKill: config.treeKillEnabled,
    lockPatterns: compileLockPatterns(config.mergeLockPatterns),
    locale: config.locale,
  };
}
