import { z } from 'zod';
import { isoUtc } from '../src/clock.js';
import { DECISIONS, OUTCOMES, requestFields, type MergeGateCounters, type RetestRequest, type RetestRun } from '../src/merge-gate/types.js';
import { isoTimestamp } from './schemas.js';
import { RESERVED_PREFIX, REQUEST_ENV_LIMITS } from '../src/runner/account.js';
import { receiptToJson } from '../src/runner/tree-kill.js';
import { KILL_STRATEGIES } from '../src/runner/tree-tracker.js';

/** The merge gate's wire shapes (snake_case) and their mapping from the gate's camelCase models. */

export const retestRequestSchema = z
  .strictObject({
    repo: requestFields.repo.describe('one re-test at a time per repo'),
    branch: requestFields.branch.describe('with repo, what infra re-queues are counted per'),
    cwd: requestFields.cwd.describe(
      'absolute path of the checkout to test in; its owner runs the test unless WATCHDOG_MERGE_RUN_AS is set',
    ),
    command: requestFields.command.describe(
      'argv, run without a shell, e.g. ["npm", "test"]; at most 4096 arguments of 64 KiB each and 256 KiB in all',
    ),
    timeout_s: requestFields.timeoutS.optional().describe('default WATCHDOG_MERGE_RETEST_TIMEOUT_S'),
    validated_sha: requestFields.validatedSha
      .optional()
      .describe('skip the run when this is the full hash of HEAD in cwd (WATCHDOG_MERGE_SKIP_WHEN_CURRENT)'),
    env: requestFields.env
      .optional()
      .describe(
        `variables added to the account's own environment (PATH from /etc/login.defs, HOME, USER, LOGNAME, SHELL from passwd, ` +
          `the watchdog's LANG, LC_*, TZ, TERM), applied only once the command runs as the account; may replace PATH and the locale, ` +
          `never HOME, USER, LOGNAME or SHELL; names [A-Za-z_][A-Za-z0-9_]*, not starting with ${RESERVED_PREFIX}; ` +
          `at most ${REQUEST_ENV_LIMITS.count} variables, ${REQUEST_ENV_LIMITS.valueBytes} bytes a value, ${REQUEST_ENV_LIMITS.totalBytes} in all`,
      ),
  })
  .meta({ id: 'RetestRequest' });

export type RetestRequestBody = z.infer<typeof retestRequestSchema>;

export function fromWire(body: RetestRequestBody): RetestRequest {
  return {
    repo: body.repo,
    branch: body.branch,
    cwd: body.cwd,
    command: body.command,
    ...(body.timeout_s !== undefined ? { timeoutS: body.timeout_s } : {}),
    ...(body.validated_sha !== undefined ? { validatedSha: body.validated_sha } : {}),
    ...(body.env !== undefined ? { env: body.env } : {}),
  };
}

const share = z.number().min(0).max(1).nullable();

export const retestRunSchema = z
  .object({
    id: z.string().describe('this attempt; a re-queue is a new id'),
    repo: z.string(),
    branch: z.string(),
    status: z.enum(['queued', 'running', 'done']),
    outcome: z.enum(OUTCOMES).optional().describe('once done: the outcome table in docs/merge-gate.md'),
    decision: z
      .enum(DECISIONS)
      .optional()
      .describe(
        'see the outcome -> decision table in docs/merge-gate.md; absent for cancelled, except repost when the gate cancelled it itself (see reason)',
      ),
    returncode: z.number().int().nullable().optional().describe("the command's exit code; null when a signal ended it"),
    signal: z.string().nullable().optional().describe('the signal that ended the command, e.g. SIGTERM after a timeout'),
    duration_s: z.number().optional().describe('wall time of the command'),
    attempt: z.number().int().describe('1 for the first run; infra re-queues count up'),
    queued_at: isoTimestamp,
    started_at: isoTimestamp.optional(),
    finished_at: isoTimestamp.optional(),
    strategy: z.enum(KILL_STRATEGIES).optional().describe('how the process tree was contained'),
    requeued_as: z.string().optional().describe('with decision requeue: the id of the next attempt, queued by the gate itself'),
    previous_id: z.string().optional().describe('the attempt this one re-queues'),
    waiting: z.enum(['cpu_pressure', 'backoff']).nullable().optional().describe('why a queued run has not started'),
    waiting_cpu_pressure: z.number().optional().describe('with waiting cpu_pressure: PSI cpu some avg10 now, percent'),
    not_before: isoTimestamp.optional().describe('an infra re-queue does not start before this (the back-off)'),
    started_under_pressure: z.boolean().optional().describe('true when the pressure wait ran out and the run started on a starved CPU'),
    pressure: z
      .object({
        cpu_stalled_share: share.describe('share of the wall time some task waited for a CPU (PSI cpu some total), 0..1'),
        memory_stalled_share: share.describe('the same for memory'),
        cpu_some_avg10_peak: z.number().nullable().describe('the highest PSI cpu some avg10 seen, percent'),
      })
      .optional()
      .describe('share of the run wall time stalled on CPU / memory (PSI totals), and the peak cpu some avg10 (percent)'),
    lock_holders: z
      .array(
        z.object({
          pid: z.number().int(),
          cmdline: z.string().describe('redacted'),
          age_s: z.number(),
          known_as: z.enum(['blocking', 'leftover', 'candidate']).nullable().describe('as the /proc scan knows it'),
          via: z.enum(['lock', 'open', 'cwd']).describe('holds the lock, has the file open, or works in cwd'),
        }),
      )
      .optional()
      .describe('with outcome lock_busy: who holds the lock file named in the output, or works in cwd'),
    receipt: z
      .object({
        strategy: z.enum(KILL_STRATEGIES).describe('how the tree was contained (README, "Nothing survives the kill")'),
        processes: z
          .array(z.object({ pid: z.number().int(), comm: z.string(), signal: z.string(), at: isoTimestamp }))
          .describe('every process signalled, with the signal and when'),
        confirmed_dead: z.number().int().describe('of those, seen gone (a zombie counts as gone)'),
        survivors: z
          .array(z.object({ pid: z.number().int(), comm: z.string() }))
          .describe('members that could not be killed: never silent'),
      })
      .optional()
      .describe('the tree kill: every process signalled, and how many were confirmed gone'),
    run_as: z
      .object({ uid: z.number().int(), user: z.string().describe('the user name, or the uid when it has none') })
      .optional()
      .describe('whom the command runs as'),
    reason: z
      .string()
      .optional()
      .describe(
        'with decision repost: why the gate ended it itself (cwd swapped or re-owned since the POST, the account gone after a restart, a saved run that cannot run again)',
      ),
  })
  .meta({ id: 'RetestRun' });

export type RetestRunBody = z.infer<typeof retestRunSchema>;

const iso = (ms: number | undefined) => (ms === undefined ? undefined : isoUtc(ms));

/** The gate's model -> the wire body; undefined fields are dropped by the serializer. */
export function toWire(run: RetestRun): RetestRunBody {
  const { pressure, lockHolders, receipt } = run;
  const body = {
    id: run.id,
    repo: run.repo,
    branch: run.branch,
    status: run.status,
    outcome: run.outcome,
    decision: run.decision,
    returncode: run.returncode,
    signal: run.signal,
    duration_s: run.durationS,
    attempt: run.attempt,
    queued_at: isoUtc(run.queuedAt),
    started_at: iso(run.startedAt),
    finished_at: iso(run.finishedAt),
    strategy: run.strategy,
    requeued_as: run.requeuedAs,
    previous_id: run.previousId,
    waiting: run.waiting,
    waiting_cpu_pressure: run.waitingValue,
    not_before: iso(run.notBefore),
    started_under_pressure: run.startedUnderPressure,
    pressure: pressure && {
      cpu_stalled_share: pressure.cpuStalledShare,
      memory_stalled_share: pressure.memoryStalledShare,
      cpu_some_avg10_peak: pressure.cpuSomeAvg10Peak,
    },
    lock_holders: lockHolders?.map((h) => ({ pid: h.pid, cmdline: h.cmdline, age_s: h.ageS, known_as: h.knownAs, via: h.via })),
    receipt: receipt && receiptToJson(receipt),
    run_as: run.runAs,
    reason: run.reason,
  };
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)) as RetestRunBody;
}

export const countersSchema = z
  .object({
    runs_total: z.number().int().describe('re-test attempts finished (skipped and cancelled included)'),
    running: z.number().int().describe('re-tests running now'),
    queued: z.number().int().describe('re-tests waiting now'),
    outcomes: z
      .object(Object.fromEntries(OUTCOMES.map((o) => [o, z.number().int()])) as Record<(typeof OUTCOMES)[number], z.ZodNumber>)
      .describe('finished attempts by outcome'),
    infra_requeues: z.number().int().describe('re-queues the gate made (timeout, lock_busy, infra)'),
    infra_exhausted: z.number().int().describe('(repo, branch) chains that ran out of re-queues: each raised merge_gate_exhausted'),
  })
  .meta({ id: 'MergeGateCounters' });

export function countersToWire(c: MergeGateCounters): z.infer<typeof countersSchema> {
  return {
    runs_total: c.runsTotal,
    running: c.running,
    queued: c.queued,
    outcomes: c.outcomes,
    infra_requeues: c.infraRequeues,
    infra_exhausted: c.infraExhausted,
  };
}
