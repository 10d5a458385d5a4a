import { z } from 'zod';
import { epochMs, issueText, type DropLog } from '../watchdog/restore-entries.js';
import type { QueuedJob } from './admission.js';
import { requestFields } from './request-fields.js';
import { KILL_STRATEGIES } from '../runner/tree-tracker.js';
import { DECISIONS, OUTCOMES, type RetestRequest, type RetestRun, type StartedTree } from './types.js';

/**
 * The merge gate's part of WATCHDOG_STATE_FILE: the re-tests that were queued or running (with
 * the tree of each running one), the recent history, the counters and the infra re-queue
 * ledger. Every value is held to what the gate itself makes (a request to what POST accepts).
 */
export interface GateSnapshot {
  /** Queued and running re-tests, in queue order (running ones first). */
  jobs: SavedJob[];
  history: RetestRun[];
  counters: SavedCounters;
  /** [repo, branch, infra re-queues so far] */
  ledger: [string, string, number][];
}

export interface SavedJob {
  runId: string;
  request: RetestRequest;
  /** The owner of cwd when the re-test was posted: a restart keeps refusing a checkout swapped since. */
  cwdUid?: number;
  /** Where the running attempt's processes live. */
  tree?: StartedTree;
}

export interface SavedCounters {
  runsTotal: number;
  infraRequeues: number;
  infraExhausted: number;
  outcomes: Partial<Record<(typeof OUTCOMES)[number], number>>;
}

/** The jobs as saved: running ones first, each with its tree, then the queue in order. */
export function savedJobs(running: readonly { job: QueuedJob; tree?: StartedTree }[], queued: readonly QueuedJob[]): SavedJob[] {
  const saved = (j: QueuedJob): SavedJob => ({ runId: j.run.id, request: j.request, cwdUid: j.runAs.cwdUid });
  return [...running.map(({ job, tree }) => ({ ...saved(job), ...(tree && { tree }) })), ...queued.map(saved)];
}

const runId = z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'must be a run id (1..100 letters, digits, . _ -)');
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const pid = z.number().int().min(1).max(4_194_304);
const CENTURY_S = 100 * 365 * 86_400;
const UID_MAX = 2 ** 32 - 1;
const INT32 = 2 ** 31;
const seconds = z.number().nonnegative().max(CENTURY_S);
const uid = z.number().int().min(0).max(UID_MAX);
const share = z.number().min(0).max(1).nullable();
const percent = z.number().min(0).max(100);
const BOOT_ID = /^[0-9a-f-]{36}$/;

const requestSchema = z.strictObject({
  repo: requestFields.repo,
  branch: requestFields.branch,
  cwd: requestFields.cwd,
  command: requestFields.command,
  timeoutS: requestFields.timeoutS.optional(),
  validatedSha: requestFields.validatedSha.optional(),
  env: requestFields.env.optional(),
});

const treeSchema = z.object({
  cgroup: z.string().startsWith('/').max(4096).nullable(),
  root: z.object({ pid: pid.min(2), startTicks: count }),
  boot: z.string().regex(BOOT_ID).nullable().default(null),
});

const jobSchema = z.object({
  runId,
  request: requestSchema,
  cwdUid: uid.optional(),
  tree: treeSchema.optional(),
});

const lockHolderSchema = z.object({
  pid,
  cmdline: z.string().max(4096),
  ageS: seconds,
  knownAs: z.enum(['blocking', 'leftover', 'candidate']).nullable(),
  via: z.enum(['lock', 'open', 'cwd']),
});

const processSchema = z.object({ pid, comm: z.string().max(64) });

const receiptSchema = z.object({
  strategy: z.enum(KILL_STRATEGIES),
  processes: z.array(processSchema.extend({ signal: z.string().max(32), atMs: epochMs })).max(100_000),
  confirmedDead: count,
  survivors: z.array(processSchema).max(100_000),
});

const runSchema = z
  .object({
    id: runId,
    repo: z.string().min(1).max(200),
    branch: z.string().min(1).max(255),
    status: z.enum(['queued', 'running', 'done']),
    outcome: z.enum(OUTCOMES).optional(),
    decision: z.enum(DECISIONS).optional(),
    returncode: z.number().int().min(-INT32).max(INT32).nullable().optional(),
    signal: z.string().max(32).nullable().optional(),
    durationS: seconds.optional(),
    attempt: z.number().int().min(1).max(10_000),
    queuedAt: epochMs,
    startedAt: epochMs.optional(),
    finishedAt: epochMs.optional(),
    strategy: z.enum(KILL_STRATEGIES).optional(),
    requeuedAs: runId.optional(),
    previousId: runId.optional(),
    waiting: z.enum(['cpu_pressure', 'backoff']).nullable().optional(),
    waitingValue: percent.optional(),
    notBefore: epochMs.optional(),
    startedUnderPressure: z.boolean().optional(),
    pressure: z.object({ cpuStalledShare: share, memoryStalledShare: share, cpuSomeAvg10Peak: percent.nullable() }).optional(),
    lockHolders: z.array(lockHolderSchema).max(1000).optional(),
    receipt: receiptSchema.optional(),
    runAs: z.object({ uid, user: z.string().min(1).max(256) }).optional(),
  })
  .refine((r) => r.status !== 'done' || r.outcome !== undefined, { message: 'a finished run has an outcome', path: ['outcome'] });

const countersSchema = z.object({
  runsTotal: count,
  infraRequeues: count,
  infraExhausted: count,
  outcomes: z.partialRecord(z.enum(OUTCOMES), count),
});

const ledgerSchema = z.tuple([z.string().min(1).max(200), z.string().min(1).max(255), z.number().int().min(0).max(1_000_000)]);

/** What survives the restore: every entry that holds, each job pointing at a queued or running run of the history. */
export interface RestoredGate {
  jobs: SavedJob[];
  history: RetestRun[];
  /** null: malformed, the counters start at zero. */
  counters: SavedCounters | null;
  ledger: [string, string, number][];
  /** The tree of every saved job that has one, even a job dropped for its request: its processes still run. */
  trees: StartedTree[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Keeps every well-formed entry and drops the others through `drops` (which logs each, by index or
 * run id, with the reason); throws only for something that is not a merge-gate section at all.
 */
export function parseGateSnapshot(data: unknown, drops: DropLog): RestoredGate {
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
    const why = whyNotRunnable(job, byId.get(job.runId), jobs);
    if (why) drops.drop(`job ${job.runId}`, why);
    else jobs.push(job);
  }
  return { jobs, history: [...byId.values()], counters: counters.success ? counters.data : null, ledger, trees };
}

function whyNotRunnable(job: SavedJob, run: RetestRun | undefined, kept: readonly SavedJob[]): string | null {
  if (!run) return 'it has no run in the history';
  if (run.status === 'done') return 'its run is already done';
  if (kept.some((j) => j.runId === job.runId)) return 'a second job for the same run';
  if (run.repo !== job.request.repo || run.branch !== job.request.branch) return 'its repo or branch differs from its run';
  return null;
}
