import type { FastifyBaseLogger } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../src/app-context.js';
import { isoUtc } from '../src/clock.js';
import { DECISIONS, OUTCOMES, QueueFull, requestFields, type RetestRequest, type RetestRun } from '../src/merge-gate/types.js';
import { redactCommandLine, redactSecrets } from '../src/redact.js';
import { RESERVED_PREFIX, REQUEST_ENV_LIMITS, RunAsRefused } from '../src/runner/account.js';
import { receiptToJson } from '../src/runner/tree-kill.js';
import { KILL_STRATEGIES } from '../src/runner/tree-tracker.js';
import { errorResponses, HttpError, writeErrorResponses } from './errors.js';
import { isoTimestamp, snakeKeys } from './observe.js';

const retestRequestSchema = z
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

const fromWire = ({ timeout_s: timeoutS, validated_sha: validatedSha, ...rest }: z.infer<typeof retestRequestSchema>): RetestRequest => ({
  ...rest,
  timeoutS,
  validatedSha,
});

const share = z.number().min(0).max(1).nullable();

const retestRunSchema = z
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

const countersSchema = z
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

const iso = (ms: number | undefined) => (ms === undefined ? undefined : isoUtc(ms));
function toWire(run: RetestRun): z.infer<typeof retestRunSchema> {
  const { queuedAt, startedAt, finishedAt, notBefore, waitingValue, receipt, ...rest } = run;
  return {
    ...(snakeKeys(rest) as z.infer<typeof retestRunSchema>),
    queued_at: isoUtc(queuedAt),
    started_at: iso(startedAt),
    finished_at: iso(finishedAt),
    not_before: iso(notBefore),
    waiting_cpu_pressure: waitingValue,
    receipt: receipt && receiptToJson(receipt),
  };
}

const idParams = z.object({ id: z.string().min(1).max(100) });

/** The audit line quotes this much of the command (redacted from a bounded head, as /proc command lines are). */
const AUDIT_COMMAND_MAX_CHARS = 2048;

/** Queues the re-test and writes the audit line; a refusal becomes its 400 or 429 answer. */
function enqueueAudited(ctx: AppContext, request: RetestRequest, log: FastifyBaseLogger): string {
  const command = redactCommandLine(request.command, AUDIT_COMMAND_MAX_CHARS);
  const audit = { repo: request.repo, branch: request.branch, cwd: redactSecrets(request.cwd), command };
  let id: string;
  try {
    id = ctx.mergeGate.enqueue(request).id;
  } catch (err) {
    if (!(err instanceof RunAsRefused || err instanceof QueueFull)) throw err;
    log.warn({ ...audit, reason: err.message }, err instanceof QueueFull ? 'merge gate: queue full' : 'merge gate: re-test refused');
    throw new HttpError(err.code, err.message);
  }
  log.info({ run_id: id, ...audit }, 'merge gate: re-test queued');
  return id;
}

export const mergeGateRoutes: FastifyPluginAsyncZod<{ ctx: AppContext }> = async (app, { ctx }) => {
  const unknownRun = (id: string) => new HttpError('not_found', `no re-test ${id} (unknown, or older than the kept history)`);

  app.get(
    '/queue',
    {
      schema: {
        summary: 'Merge-gate counters (read-only)',
        response: {
          200: z.object({ merge_gate: countersSchema.describe('the merge-gate counters since start (or restored from the state file)') }),
        },
      },
    },
    async () => ({ merge_gate: snakeKeys(ctx.mergeGate.counters()) as z.infer<typeof countersSchema> }),
  );

  app.post(
    '/merge-gate/retests',
    {
      schema: {
        summary: 'Queue a merge-gate re-test',
        description:
          'FIFO, one run at a time per repo, at most WATCHDOG_MERGE_MAX_PARALLEL across repos; a run waits while the CPU is starved ' +
          '(WATCHDOG_MERGE_MAX_CPU_PRESSURE, at most WATCHDOG_MERGE_PRESSURE_WAIT_S). On timeout the whole process tree is killed; ' +
          'timeout/lock_busy/infra re-queue after a back-off up to WATCHDOG_MERGE_INFRA_RETRY_MAX times. The command runs as the ' +
          'owner of cwd (or WATCHDOG_MERGE_RUN_AS), never as root unless WATCHDOG_MERGE_ALLOW_ROOT=true.',
        security: [{ bearerAuth: [] }],
        body: retestRequestSchema,
        response: {
          202: z.object({ id: z.string().describe('GET /merge-gate/retests/{id} follows it'), status: z.literal('queued') }),
          ...writeErrorResponses('bad_request', 'run_as_refused', 'queue_full'),
        },
      },
    },
    async (req, reply) => {
      const id = enqueueAudited(ctx, fromWire(req.body), req.log);
      return reply.code(202).send({ id, status: 'queued' as const });
    },
  );

  app.get(
    '/merge-gate/retests/:id',
    {
      schema: {
        summary: 'One re-test attempt',
        params: idParams,
        response: { 200: retestRunSchema, ...errorResponses('not_found', 'uri_too_long') },
      },
    },
    async (req) => {
      const run = ctx.mergeGate.get(req.params.id);
      if (!run) throw unknownRun(req.params.id);
      return toWire(run);
    },
  );

  app.delete(
    '/merge-gate/retests/:id',
    {
      schema: {
        summary: 'Cancel a re-test',
        description: 'A queued run is dropped, a running one is killed (whole tree) like a timeout; either ends with outcome cancelled.',
        security: [{ bearerAuth: [] }],
        params: idParams,
        response: { 200: retestRunSchema, ...writeErrorResponses('not_found', 'already_done', 'uri_too_long') },
      },
    },
    async (req) => {
      const answer = await ctx.mergeGate.cancel(req.params.id);
      if (answer.kind === 'unknown') throw unknownRun(req.params.id);
      if (answer.kind === 'done')
        throw new HttpError('already_done', `re-test ${req.params.id} already finished with outcome ${answer.run.outcome ?? 'unknown'}`);
      req.log.info({ run_id: answer.run.id, repo: answer.run.repo, branch: answer.run.branch }, 'merge gate: re-test cancelled');
      return toWire(answer.run);
    },
  );
};
