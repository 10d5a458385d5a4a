import { z } from 'zod';
import { requestEnvProblem } from './runner/account.js';
import { OUTCOMES, type RetestRequest, type RetestRun } from './types.js';

/**
 * The merge gate's part of WATCHDOG_STATE_FILE: the re-tests that were queued or running, the
 * recent history, the counters and the infra re-queue ledger. Runs are kept as the gate holds
 * them; a request carries what is needed to run it again.
 */
export interface GateSnapshot {
  /** Queued and running re-tests, in queue order (running ones first). */
  jobs: { runId: string; request: RetestRequest }[];
  history: RetestRun[];
  counters: {
    runsTotal: number;
    infraRequeues: number;
    infraExhausted: number;
    outcomes: Partial<Record<(typeof OUTCOMES)[number], number>>;
  };
  /** [repo, branch, infra re-queues so far] */
  ledger: [string, string, number][];
}

const count = z.number().int().nonnegative();

const requestSchema = z.object({
  repo: z.string().min(1),
  branch: z.string().min(1),
  cwd: z.string().startsWith('/'),
  command: z.array(z.string()).min(1),
  timeoutS: z.number().positive().optional(),
  validatedSha: z.string().optional(),
  env: z
    .record(z.string(), z.string())
    .refine((env) => requestEnvProblem(env) === null, 'env: not what a POST accepts')
    .optional(),
});

// The rest of a run (receipt, pressure, lock holders) is evidence shown as it was saved.
const runSchema = z.looseObject({
  id: z.string().min(1),
  repo: z.string(),
  branch: z.string(),
  status: z.enum(['queued', 'running', 'done']),
  attempt: z.number().int().positive(),
  queuedAt: z.number(),
  notBefore: z.number().optional(),
  previousId: z.string().optional(),
});

const snapshotSchema = z.object({
  jobs: z.array(z.object({ runId: z.string(), request: requestSchema })),
  history: z.array(runSchema),
  counters: z.object({
    runsTotal: count,
    infraRequeues: count,
    infraExhausted: count,
    outcomes: z.partialRecord(z.enum(OUTCOMES), count),
  }),
  ledger: z.array(z.tuple([z.string(), z.string(), count])),
});

/** Throws a readable message for anything this version did not write (the store then starts the section fresh). */
export function parseGateSnapshot(data: unknown): GateSnapshot {
  const parsed = snapshotSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`merge gate: ${issue?.path.join('.') || 'section'}: ${issue?.message ?? 'malformed'}`);
  }
  const snap = parsed.data as GateSnapshot;
  const ids = new Set(snap.history.map((r) => r.id));
  for (const job of snap.jobs) if (!ids.has(job.runId)) throw new Error(`merge gate: job ${job.runId} has no run in the history`);
  return snap;
}
