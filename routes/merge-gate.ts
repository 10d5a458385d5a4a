import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../src/app-context.js';
import { QueueFull } from '../src/merge-gate/gate-options.js';
import { RunAsRefused } from '../src/merge-gate/run-as.js';
import type { RetestRequest } from '../src/merge-gate/types.js';
import { redactCommandLine, redactSecrets } from '../src/redact.js';
import { errorResponses, HttpError } from './errors.js';
import { fromWire, retestRequestSchema, retestRunSchema, toWire } from './merge-gate-wire.js';

const POST_ERRORS = errorResponses(
  'bad_request',
  'run_as_refused',
  'unauthorized',
  'forbidden',
  'payload_too_large',
  'unsupported_media_type',
  'queue_full',
);
const DELETE_ERRORS = errorResponses(
  'unauthorized',
  'forbidden',
  'not_found',
  'already_done',
  'uri_too_long',
  'payload_too_large',
  'unsupported_media_type',
);

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

export async function mergeGateRoutes(app: FastifyInstance, { ctx }: { ctx: AppContext }): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
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
          ...POST_ERRORS,
        },
      },
    },
    async (req, reply) => {
      const id = enqueueAudited(ctx, fromWire(req.body), req.log);
      return reply.code(202).send({ id, status: 'queued' as const });
    },
  );

  r.get(
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
      if (!run) throw new HttpError('not_found', `no re-test ${req.params.id} (unknown, or older than the kept history)`);
      return toWire(run);
    },
  );

  r.delete(
    '/merge-gate/retests/:id',
    {
      schema: {
        summary: 'Cancel a re-test',
        description: 'A queued run is dropped, a running one is killed (whole tree) like a timeout; either ends with outcome cancelled.',
        security: [{ bearerAuth: [] }],
        params: idParams,
        response: { 200: retestRunSchema, ...DELETE_ERRORS },
      },
    },
    async (req) => {
      const answer = await ctx.mergeGate.cancel(req.params.id);
      if (answer.kind === 'unknown')
        throw new HttpError('not_found', `no re-test ${req.params.id} (unknown, or older than the kept history)`);
      if (answer.kind === 'done')
        throw new HttpError('already_done', `re-test ${req.params.id} already finished with outcome ${answer.run.outcome ?? 'unknown'}`);
      req.log.info({ run_id: answer.run.id, repo: answer.run.repo, branch: answer.run.branch }, 'merge gate: re-test cancelled');
      return toWire(answer.run);
    },
  );
}
