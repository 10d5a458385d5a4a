import { statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import type { Config } from '../config.js';
import { requestEnvProblem } from '../runner/account.js';
import type { RunReport } from '../runner/run.js';
import { KILL_STRATEGIES } from '../runner/tree-tracker.js';
import { epochMs } from '../watchdog/restore-entries.js';

export const OUTCOMES = ['pass', 'red', 'timeout', 'lock_busy', 'infra', 'other', 'skipped', 'cancelled'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** `repost`: shutdown cut the run and, without a state file, nothing re-queues it; the caller posts it again. */
export const DECISIONS = ['merge', 'rollback', 'requeue', 'exhausted', 'repost'] as const;
export type MergeDecision = (typeof DECISIONS)[number];

/** What classify needs of a finished run: the runner's report (a partial one classifies too: the CLI's, a test's). */
export type RunEvidence = Pick<RunReport, 'result'> & Partial<Pick<RunReport, 'spawnError' | 'killedByGate' | 'oomKilled' | 'aborted'>>;

const MAX_TIMEOUT_S = 86_400;
/** PATH_MAX: the kernel would refuse a longer path anyway. */
const MAX_CWD_CHARS = 4096;
/** Per argument and for the whole argv: every byte of it is logged (redacted) and kept in the state file. */
const MAX_ARG_CHARS = 64 * 1024;
const MAX_COMMAND_CHARS = 256 * 1024;
const noNul = (s: string) => !s.includes('\0');

const isDirectory = (path: string): boolean => {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
};

/** A request's rules, field by field: POST /merge-gate/retests (snake_case) and a restored re-test are held to the same. */
export const requestFields = {
  repo: z.string().trim().min(1, 'must be a non-empty string').max(200).refine(noNul, 'must not contain NUL'),
  branch: z.string().trim().min(1, 'must be a non-empty string').max(255).refine(noNul, 'must not contain NUL'),
  cwd: z
    .string()
    .max(MAX_CWD_CHARS, `must be at most ${MAX_CWD_CHARS} characters`)
    .refine((p) => isAbsolute(p) && noNul(p), 'must be an absolute path')
    .refine(isDirectory, 'must be an existing directory'),
  command: z
    .array(z.string().max(MAX_ARG_CHARS, `an argument must be at most ${MAX_ARG_CHARS} characters`).refine(noNul, 'must not contain NUL'))
    .min(1, 'must be a non-empty argv array')
    .max(4096)
    .refine((argv) => (argv[0] ?? '') !== '', 'command[0] (the program) must not be empty')
    .refine(
      (argv) => argv.reduce((sum, arg) => sum + arg.length, 0) <= MAX_COMMAND_CHARS,
      `the arguments must total at most ${MAX_COMMAND_CHARS} characters`,
    ),
  timeoutS: z.number().gt(0, 'must be greater than 0').max(MAX_TIMEOUT_S, `must be at most ${MAX_TIMEOUT_S}`),
  validatedSha: z.string().regex(/^[0-9a-fA-F]{7,64}$/, 'must be a 7..64 character hex commit id'),
  env: z.record(z.string(), z.string()).superRefine((env, ctx) => {
    const problem = requestEnvProblem(env);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
};

/** A re-test as the gate holds it (and the state file keeps it); routes/merge-gate.ts maps the snake_case wire body. */
export const requestSchema = z.strictObject({
  ...requestFields,
  timeoutS: requestFields.timeoutS.optional(),
  validatedSha: requestFields.validatedSha.optional(),
  env: requestFields.env.optional(),
});
export type RetestRequest = z.infer<typeof requestSchema>;

export const runId = z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'must be a run id (1..100 letters, digits, . _ -)');
export const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const pid = z.number().int().min(1).max(4_194_304);
/** At most 100 years. */
const seconds = z.number().nonnegative().max(3_153_600_000);
/** 2^32 - 1 */
export const uid = z.number().int().min(0).max(4_294_967_295);
const share = z.number().min(0).max(1).nullable();
const percent = z.number().min(0).max(100);
const INT32 = 2 ** 31;
const BOOT_ID = /^[0-9a-f-]{36}$/;

/** A running attempt's tree, saved with the queue so a restart after kill -9 ends exactly what the dead watchdog left. */
export const treeSchema = z.object({
  /** The run cgroup (strategy `cgroup`), or null. */
  cgroup: z.string().startsWith('/').max(4096).nullable(),
  /** The process the runner spawned (the command, or the subreaper helper over it). */
  root: z.object({ pid: pid.min(2), startTicks: count }),
  /** /proc/sys/kernel/random/boot_id when it started: after a reboot the root names nothing. */
  boot: z.string().regex(BOOT_ID).nullable().default(null),
});
export type StartedTree = z.infer<typeof treeSchema>;

export const KNOWN_AS = ['blocking', 'leftover', 'candidate'] as const;
export type KnownAs = (typeof KNOWN_AS)[number];

const lockHolderSchema = z.object({
  pid,
  /** redacted and truncated */
  cmdline: z.string().max(4096),
  ageS: seconds,
  knownAs: z.enum(KNOWN_AS).nullable(),
  /** It holds the named lock file open or locked, or works inside the re-test's cwd. */
  via: z.enum(['lock', 'open', 'cwd']),
});
export type LockHolder = z.infer<typeof lockHolderSchema>;

const processSchema = z.object({ pid, comm: z.string().max(64) });

const pressureSchema = z.object({ cpuStalledShare: share, memoryStalledShare: share, cpuSomeAvg10Peak: percent.nullable() });
/** The pressure a run ran under: stalled shares of its wall time (0..1) and the peak PSI cpu some avg10 (percent). */
export type PressureEvidence = z.infer<typeof pressureSchema>;

/** A run as the gate keeps it (times in ms since the epoch); the state file's copy is held to the same. */
export const runSchema = z
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
    /** With decision requeue: the attempt that follows; on later attempts, the one before. */
    requeuedAs: runId.optional(),
    previousId: runId.optional(),
    /** Why a queued run has not started yet; with cpu_pressure, the pressure seen last (percent). */
    waiting: z.enum(['cpu_pressure', 'backoff']).nullable().optional(),
    waitingValue: percent.optional(),
    /** The back-off of a re-queue ends here. */
    notBefore: epochMs.optional(),
    /** The run started although the CPU was still starved (the pressure wait ran out). */
    startedUnderPressure: z.boolean().optional(),
    pressure: pressureSchema.optional(),
    lockHolders: z.array(lockHolderSchema).max(1000).optional(),
    receipt: z
      .object({
        strategy: z.enum(KILL_STRATEGIES),
        processes: z.array(processSchema.extend({ signal: z.string().max(32), atMs: epochMs })).max(100_000),
        confirmedDead: count,
        survivors: z.array(processSchema).max(100_000),
      })
      .optional(),
    runAs: z.object({ uid, user: z.string().min(1).max(256) }).optional(),
  })
  .refine((r) => r.status !== 'done' || r.outcome !== undefined, { message: 'a finished run has an outcome', path: ['outcome'] });
/** `reason`: why the gate itself cancelled the run (its cwd changed owner, its account is gone); not restored. */
export type RetestRun = z.infer<typeof runSchema> & { reason?: string };

/** The config, and for tests: `historyMax`: finished runs kept; `maxQueued(PerRepo)`: then POST answers 429; `pressurePollMs`: how often held and running re-tests look. */
export type MergeGateOptions = Config & Partial<Record<'historyMax' | 'maxQueuedPerRepo' | 'maxQueued' | 'pressurePollMs', number>>;

export const DEFAULT_PRESSURE_POLL_MS = 2_000;

/** POST answers 429 {error: "queue_full"}. */
export class QueueFull extends Error {
  readonly code = 'queue_full';
}

/** Why the queue, or the repo's share of it, has no room for one more (QueueFull's message), or null. */
export function queueFull(queued: readonly { request: { repo: string } }[], repo: string, opts: MergeGateOptions): string | null {
  const max = opts.maxQueued ?? 100;
  if (queued.length >= max) return `${queued.length} re-tests are queued (at most ${max}); retry later or cancel one`;
  const maxPerRepo = opts.maxQueuedPerRepo ?? 20;
  const ofRepo = queued.filter((j) => j.request.repo === repo).length;
  return ofRepo >= maxPerRepo
    ? `${ofRepo} re-tests of ${repo} are queued (at most ${maxPerRepo} per repo); retry later or cancel one`
    : null;
}
