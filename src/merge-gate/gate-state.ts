import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { z } from 'zod';
import { METRIC_PREFIX } from '../metrics.js';
import { isObject, issueText, type DropLog } from '../watchdog/restore-entries.js';
import type { QueuedJob } from './policy.js';
import { recheckCwd, type RunAsUser } from '../runner/account.js';
import { count, OUTCOMES, queueFull, requestSchema, runId, runSchema, treeSchema, uid } from './types.js';
import type { MergeGateOptions, Outcome, RetestRequest, RetestRun, StartedTree } from './types.js';

// The merge gate's part of WATCHDOG_STATE_FILE; every value is held to what the gate itself makes (a request to what POST accepts).
const jobSchema = z.object({
  runId,
  request: requestSchema,
  /** The owner of cwd when the re-test was posted: a restart keeps refusing a checkout swapped since. */
  cwdUid: uid.optional(),
  tree: treeSchema.optional(),
});
type SavedJob = z.infer<typeof jobSchema>;

const countersSchema = z.object({
  runsTotal: count,
  infraRequeues: count,
  infraExhausted: count,
  outcomes: z.partialRecord(z.enum(OUTCOMES), count),
});

const ledgerSchema = z.tuple([z.string().min(1).max(200), z.string().min(1).max(255), z.number().int().min(0).max(1_000_000)]);

/** The jobs as saved: running ones first, each with its tree, then the queue in order. */
export function savedJobs(running: readonly { job: QueuedJob; tree?: StartedTree }[], queued: readonly QueuedJob[]): SavedJob[] {
  const saved = (j: QueuedJob): SavedJob => ({ runId: j.run.id, request: j.request, cwdUid: j.runAs.cwdUid });
  return [...running.map(({ job, tree }) => ({ ...saved(job), ...(tree && { tree }) })), ...queued.map(saved)];
}

/** Every run by id, for GET /merge-gate/retests/:id; bounded: the oldest finished runs go first. */
export class RunHistory {
  readonly runs = new Map<string, RetestRun>();

  constructor(private readonly max = 1000) {}

  /** Runs from the state file come first, oldest first. */
  add(runs: readonly RetestRun[]): void {
    for (const run of runs) this.runs.set(run.id, run);
    for (const [id, run] of this.runs) {
      if (this.runs.size <= this.max) break;
      if (run.status === 'done') this.runs.delete(id);
    }
  }

  /** The attempts that led to `run`, oldest first, as far as history still holds them. */
  chain(run: RetestRun): RetestRun[] {
    const chain = [run];
    const seen = new Set([run.id]);
    // A state file's previousId may loop (A → B → A): each run once, or the loop never ends.
    for (
      let before = this.runs.get(run.previousId ?? '');
      before && !seen.has(before.id);
      before = this.runs.get(before.previousId ?? '')
    ) {
      seen.add(before.id);
      chain.unshift(before);
    }
    return chain;
  }
}

/** Keeps every well-formed entry and drops the others through `drops`; throws only for something that is not a merge-gate section. */
export function parseGateSnapshot(data: unknown, drops: DropLog) {
  if (!isObject(data)) throw new Error('merge gate: expected an object');
  const list = (name: string): unknown[] => {
    const value = data[name];
    if (Array.isArray(value)) return value;
    drops.drop(name, 'expected a list');
    return [];
  };
  const byId = new Map<string, RetestRun>();
  for (const run of drops.keep(list('history'), runSchema, (i) => `history[${i}]`)) {
    if (byId.has(run.id)) drops.drop(`history run ${run.id}`, 'a second run with this id');
    else byId.set(run.id, run);
  }
  const counters = countersSchema.safeParse(data.counters);
  if (!counters.success) drops.drop('counters', `${issueText(counters.error)}; the counters start at zero`);
  const ledger = drops.keep(list('ledger'), ledgerSchema, (i) => `ledger[${i}]`);
  const savedJobs = list('jobs');
  const trees = savedJobs.flatMap((j) => {
    const tree = treeSchema.safeParse(isObject(j) ? j.tree : undefined);
    return tree.success ? [tree.data] : [];
  });
  const jobs: SavedJob[] = [];
  for (const job of drops.keep(savedJobs, jobSchema, (i) => `jobs[${i}]`)) {
    const run = byId.get(job.runId);
    let why: string | null = null;
    if (!run) why = 'it has no run in the history';
    else if (run.status === 'done') why = 'its run is already done';
    else if (jobs.some((j) => j.runId === job.runId)) why = 'a second job for the same run';
    else if (run.repo !== job.request.repo || run.branch !== job.request.branch) why = 'its repo or branch differs from its run';
    if (why) drops.drop(`job ${job.runId}`, why);
    else jobs.push(job);
  }
  // counters null: malformed, they start at zero; trees: of every saved job, even one dropped for its request (its processes still run)
  return { jobs, history: [...byId.values()], counters: counters.success ? counters.data : null, ledger, trees };
}

/** Saved re-tests admitted again as at POST; a run left without its request ends `timeout` if it was running, else `cancelled`. */
export function planRestore(
  saved: ReturnType<typeof parseGateSnapshot>,
  resolveRunAs: (request: RetestRequest) => RunAsUser,
  opts: MergeGateOptions,
) {
  // ended: cannot run again (repost); interrupted (cut by a shutdown or a crash): the same attempt runs again, first
  const plan = {
    ended: [] as { run: RetestRun; outcome: Outcome; why: string }[],
    interrupted: [] as QueuedJob[],
    queued: [] as QueuedJob[],
  };
  const withJob = new Set(saved.jobs.map((j) => j.runId));
  for (const run of saved.history) {
    if (run.status === 'done' || withJob.has(run.id)) continue;
    const outcome = run.status === 'running' ? 'timeout' : 'cancelled';
    plan.ended.push({ run, outcome, why: `it was ${run.status}, but the state file holds no request to run it again` });
  }
  const runs = new Map(saved.history.map((r) => [r.id, r]));
  for (const { runId, request, cwdUid } of saved.jobs) {
    const run = runs.get(runId)!;
    let runAs: RunAsUser;
    try {
      runAs = resolveRunAs(request);
    } catch (err) {
      plan.ended.push({ run, outcome: 'cancelled', why: `it can no longer run as its account: ${(err as Error).message}` });
      continue;
    }
    // the account stays the one fixed at POST: a checkout swapped while the watchdog was down is refused as at start
    const swapped = cwdUid === undefined ? null : recheckCwd(request.cwd, { ...runAs, cwdUid });
    if (swapped) plan.ended.push({ run, outcome: 'cancelled', why: swapped });
    else if (run.status === 'running') plan.interrupted.push({ run, request, runAs });
    else if (queueFull(plan.queued, run.repo, opts))
      plan.ended.push({ run, outcome: 'cancelled', why: 'the queue (or its share for this repo) is full' });
    else plan.queued.push({ run, request, runAs });
  }
  return plan;
}

/** The running totals behind GET /queue; the state file keeps them (running and queued are counted again). */
export const zeroTotals = () => ({
  runsTotal: 0,
  infraRequeues: 0,
  infraExhausted: 0,
  outcomes: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>,
});

/** The merge gate's series on the app's registry; gauges are read from the gate at scrape time. */
export function createMergeGateMetrics(registry: Registry, counters: () => Record<'running' | 'queued', number>) {
  const name = (n: string) => ({ name: `${METRIC_PREFIX}merge_gate_${n}`, registers: [registry] });
  const runs = new Counter({ ...name('runs_total'), help: 'Merge-gate re-test attempts finished, by outcome.', labelNames: ['outcome'] });
  for (const outcome of OUTCOMES) runs.inc({ outcome }, 0);
  for (const [key, help] of [
    ['running', 'Merge-gate re-tests running now.'],
    ['queued', 'Merge-gate re-tests waiting to run.'],
  ] as const) {
    new Gauge({
      ...name(key),
      help,
      collect() {
        this.set(counters()[key]);
      },
    });
  }
  const requeues = new Counter({
    ...name('infra_requeues_total'),
    help: 'Re-tests re-queued because of an infra outcome (timeout, lock_busy).',
  });
  const exhausted = new Counter({
    ...name('infra_exhausted_total'),
    help: 'Branches whose infra re-queues ran out (each raised one merge_gate_exhausted alert).',
  });
  const duration = new Histogram({
    ...name('duration_seconds'),
    help: 'Wall time of a re-test attempt, including the tree kill on timeout.',
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
  });
  return {
    finished(outcome: Outcome, durationS: number) {
      runs.inc({ outcome });
      duration.observe(durationS);
    },
    requeued: () => requeues.inc(),
    exhausted: () => exhausted.inc(),
  };
}
