import type { Logger } from 'pino';
import { formatDuration, t, type Locale } from '../i18n.js';
import { makeSignal, type Signal } from '../watchdog/signal.js';
import type { RunAsUser } from '../runner/account.js';
import { DEFAULT_PRESSURE_POLL_MS, type LockHolder, type MergeDecision, type MergeGateOptions, type Outcome } from './types.js';
import type { RetestRequest, RetestRun } from './types.js';

/** `mergeInfraRequeue` false (WATCHDOG_MERGE_INFRA_REQUEUE): every failure rolls back, infra or not. */
type DecisionPolicy = Pick<MergeGateOptions, 'mergeInfraRetryMax' | 'mergeInfraRequeue'>;

/** docs/merge-gate.md: pass/skipped merge, red/other roll back, infra re-queues up to `mergeInfraRetryMax` per branch, then `exhausted`. */
export function mergeDecision(outcome: Outcome, infraRequeuesSoFar: number, policy: DecisionPolicy): MergeDecision | null {
  if (outcome === 'pass' || outcome === 'skipped') return 'merge';
  if (outcome === 'cancelled') return null;
  if (!['timeout', 'lock_busy', 'infra'].includes(outcome) || !policy.mergeInfraRequeue) return 'rollback';
  return infraRequeuesSoFar < policy.mergeInfraRetryMax ? 'requeue' : 'exhausted';
}

/** How long an infra re-queue waits after attempt `attempt` failed: delay × 2^(attempt−1). */
export function requeueDelayMs(attempt: number, requeueDelayS: number): number {
  return requeueDelayS * 1000 * 2 ** Math.max(0, attempt - 1);
}

/** Infra re-queue counts per (repo, branch): reset by a pass or a red, and by exhaustion. */
export class InfraRequeueLedger {
  private readonly counts = new Map<string, number>();

  constructor(private readonly policy: DecisionPolicy) {}

  /** [repo, branch, count] for the state file. */
  entries(): [string, string, number][] {
    return [...this.counts].map(([key, n]) => [...(JSON.parse(key) as [string, string]), n]);
  }

  restore(entries: readonly [string, string, number][]): void {
    for (const [repo, branch, n] of entries) this.counts.set(JSON.stringify([repo, branch]), n);
  }

  /** Decides for one finished attempt and updates the count. */
  record(repo: string, branch: string, outcome: Outcome): MergeDecision | null {
    const key = JSON.stringify([repo, branch]);
    const sofar = this.counts.get(key) ?? 0;
    const decision = mergeDecision(outcome, sofar, this.policy);
    if (decision === 'requeue') this.counts.set(key, sofar + 1);
    // The exhausted chain is over: a fresh request for the branch starts with fresh retries.
    else if (outcome === 'pass' || outcome === 'red' || decision === 'exhausted') this.counts.delete(key);
    return decision;
  }
}

/** A queued re-test as the gate holds it; `heldSince`: when the pressure first held it back (ms, the gate's clock). */
export interface QueuedJob {
  run: RetestRun;
  request: RetestRequest;
  runAs: RunAsUser;
  heldSince?: number;
}

/** Which queued jobs start now (FIFO, one per repo, ≤ maxParallel, back-off and CPU-pressure waits) and in how many ms to look again. */
export function admit(
  queued: readonly QueuedJob[],
  ctx: { now: number; runningRepos: readonly string[]; sampleCpu: () => number | null; log: Logger },
  opts: MergeGateOptions,
): { start: QueuedJob[]; nextMs: number } {
  const start: QueuedJob[] = [];
  const repos = new Set(ctx.runningRepos);
  let cpu: number | null | undefined;
  let nextMs = Infinity;
  for (const job of queued) {
    if (repos.size >= opts.mergeMaxParallel) break;
    if (repos.has(job.run.repo)) continue;
    if (job.run.notBefore !== undefined && ctx.now < job.run.notBefore) {
      nextMs = Math.min(nextMs, job.run.notBefore - ctx.now);
      continue;
    }
    cpu = cpu === undefined ? ctx.sampleCpu() : cpu;
    if (cpu !== null && cpu > opts.mergeMaxCpuPressure) {
      job.heldSince ??= ctx.now;
      const waitEnd = job.heldSince + opts.mergePressureWaitS * 1000;
      if (ctx.now < waitEnd) {
        Object.assign(job.run, { waiting: 'cpu_pressure', waitingValue: cpu });
        nextMs = Math.min(nextMs, opts.pressurePollMs ?? DEFAULT_PRESSURE_POLL_MS, waitEnd - ctx.now);
        continue;
      }
      job.run.startedUnderPressure = true;
      ctx.log.warn(
        { run_id: job.run.id, cpu_some_avg10: cpu },
        'merge gate: the CPU is still starved; starting the re-test anyway (pressure wait over)',
      );
    }
    repos.add(job.run.repo);
    start.push(job);
  }
  return { start, nextMs };
}

const OUTCOME_WORDS: Record<Locale, Partial<Record<Outcome, [string, string]>>> = {
  en: { timeout: ['timeout', 'timeouts'], lock_busy: ['busy lock', 'busy locks'], infra: ['infra failure', 'infra failures'] },
  ru: {
    timeout: ['тайм-аут', 'тайм-аутов'],
    lock_busy: ['занятая блокировка', 'занятых блокировок'],
    infra: ['сбой инфраструктуры', 'сбоев инфраструктуры'],
  },
};

/** "3 timeouts, 1 busy lock" over the attempts of one chain. */
function outcomeTally(chain: readonly RetestRun[], locale: Locale): string {
  const counts = new Map<Outcome, number>();
  for (const run of chain) if (run.outcome) counts.set(run.outcome, (counts.get(run.outcome) ?? 0) + 1);
  return [...counts]
    .map(([outcome, n]) => {
      const words = OUTCOME_WORDS[locale][outcome];
      return `${n} ${words ? words[n === 1 ? 0 : 1] : outcome}`;
    })
    .join(', ');
}

/** "; CPU stalled 40% of the time": wall-time-weighted over the chain, empty without PSI. */
function stalledText(chain: readonly RetestRun[], locale: Locale): string {
  let stalled = 0;
  let wall = 0;
  for (const run of chain) {
    const share = run.pressure?.cpuStalledShare;
    if (share === null || share === undefined || !run.durationS) continue;
    stalled += share * run.durationS;
    wall += run.durationS;
  }
  if (wall <= 0) return '';
  const pct = Math.round((stalled / wall) * 100);
  return t(locale, { en: `; CPU stalled ${pct}% of the time`, ru: `; CPU простаивал в ожидании ${pct}% времени` });
}

function holdersText(holders: readonly LockHolder[], locale: Locale): string {
  if (holders.length === 0) return '';
  const shown = holders
    .slice(0, 5)
    .map((h) => `${h.pid} (${h.cmdline}, ${formatDuration(h.ageS, locale)}${h.knownAs ? `, ${h.knownAs}` : ''})`);
  const pids = holders.map((h) => h.pid).join(' ');
  const known = holders.filter((h) => h.knownAs !== null).map((h) => h.pid);
  const stop = known.length > 0 ? `POST /proc/candidates/${known[0]}/terminate, ` : '';
  return t(locale, {
    en: ` Lock held by ${shown.join('; ')}. Stop them: ${stop}kill ${pids}`,
    ru: ` Блокировку держат ${shown.join('; ')}. Остановить: ${stop}kill ${pids}`,
  });
}

/** The one merge_gate_exhausted alert of a chain: what kept failing, under what pressure, and who held the lock. */
export function exhaustedSignal(chain: readonly RetestRun[], retryMax: number, locale: Locale): Signal {
  const last = chain.at(-1)!;
  const where = `${last.repo}@${last.branch}`;
  const holders = [...chain].reverse().find((r) => r.lockHolders && r.lockHolders.length > 0)?.lockHolders ?? [];
  const head = `${where}: ${outcomeTally(chain, locale)}${stalledText(chain, locale)}`;
  return makeSignal({
    family: 'merge_gate_exhausted',
    entity: where,
    active: true,
    severity: 'critical',
    title: t(locale, { en: 'Merge gate gave up on a branch', ru: 'Merge gate сдался на ветке' }),
    detail:
      t(locale, {
        en: `${head} — ${retryMax} infra re-queue(s) spent (attempt ${last.attempt}, run ${last.id}); the branch was neither merged nor rolled back: check the CI host (CPU, locks).`,
        ru: `${head} — исчерпано повторов из-за инфраструктуры: ${retryMax} (попытка ${last.attempt}, запуск ${last.id}); ветка не влита и не откачена: проверьте CI-хост (CPU, блокировки).`,
      }) + holdersText(holders, locale),
  });
}
