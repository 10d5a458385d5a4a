import { statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../src/app-context.js';
import { DECISIONS, KILL_STRATEGIES, OUTCOMES } from '../src/merge-gate/types.js';
import { errorSchema, HttpError } from './errors.js';
import { isoTimestamp } from './schemas.js';

const MAX_TIMEOUT_S = 86_400;
const noNul = (s: string) => !s.includes('\0');

const isDirectory = (path: string): boolean => {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
};

export const retestRequestSchema = z
  .strictObject({
    repo: z.string().trim().min(1, 'must be a non-empty string').max(200).refine(noNul, 'must not contain NUL'),
    branch: z.string().trim().min(1, 'must be a non-empty string').max(255).refine(noNul, 'must not contain NUL'),
    cwd: z
      .string()
      .refine((p) => isAbsolute(p) && noNul(p), 'must be an absolute path')
      .refine(isDirectory, 'must be an existing directory')
      .describe('absolute path of the checkout to test in'),
    command: z
      .array(z.string().max(64 * 1024).refine(noNul, 'must not contain NUL'))
      .min(1, 'must be a non-empty argv array')
      .max(4096)
      .refine((argv) => (argv[0] ?? '') !== '', 'command[0] (the program) must not be empty')
      .describe('argv, run without a shell, e.g. ["npm", "test"]'),
    timeout_s: z.number().gt(0, 'must be greater than 0').max(MAX_TIMEOUT_S, `must be at most ${MAX_TIMEOUT_S}`).optional().describe('default WATCHDOG_MERGE_RETEST_TIMEOUT_S'),
    validated_sha: z
      .string()
      .regex(/^[0-9a-fA-F]{7,64}$/, 'must be a 7..64 character hex commit id')
      .optional()
      .describe('skip the run when this is the full hash of HEAD in cwd (WATCHDOG_MERGE_SKIP_WHEN_CURRENT)'),
  })
  .meta({ id: 'RetestRequest' });

export const retestRunSchema = z
  .object({
    id: z.string(),
    repo: z.string(),
    branch: z.string(),
    status: z.enum(['queued', 'running', 'done']),
    outcome: z.enum(OUTCOMES).optional(),
    decision: z.enum(DECISIONS).optional(),
    returncode: z.number().int().nullable().optional(),
    signal: z.string().nullable().optional().describe('the signal that ended the command, e.g. SIGTERM after a timeout'),
    duration_s: z.number().optional(),
    attempt: z.number().int().describe('1 for the first run; infra re-queues count up'),
    queued_at: isoTimestamp,
    started_at: isoTimestamp.optional(),
    finished_at: isoTimestamp.optional(),
    strategy: z.enum(KILL_STRATEGIES).optional().describe('how the process tree was contained'),
    requeued_as: z.string().optional().describe('with decision requeue: the id of the next attempt'),
    previous_id: z.string().optional().describe('the attempt this one re-queues'),
  })
  .meta({ id: 'RetestRun' });

export async function mergeGateRoutes(app: FastifyInstance, { ctx }: { ctx: AppContext }): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/merge-gate/retests',
    {
      schema: {
        summary: 'Queue a merge-gate re-test',
        description:
          'FIFO per repo, one run at a time per repo, at most WATCHDOG_MERGE_MAX_PARALLEL across repos. ' +
          'On timeout the whole process tree is killed; timeout/lock_busy re-queue up to WATCHDOG_MERGE_INFRA_RETRY_MAX times.',
        security: [{ bearerAuth: [] }],
        body: retestRequestSchema,
        response: {
          202: z.object({ id: z.string(), status: z.literal('queued') }),
          400: errorSchema,
          401: errorSchema,
          403: errorSchema,
        },
      },
    },
    async (req, reply) => {
      const run = ctx.mergeGate.enqueue(req.body);
      req.log.info({ run_id: run.id, repo: run.repo, branch: run.branch }, 'merge gate: re-test queued');
      return reply.code(202).send({ id: run.id, status: 'queued' as const });
    },
  );

  r.get(
    '/merge-gate/retests/:id',
    {
      schema: {
        summary: 'One re-test attempt',
        params: z.object({ id: z.string().min(1).max(100) }),
        response: { 200: retestRunSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const run = ctx.mergeGate.get(req.params.id);
      if (!run) throw new HttpError(404, 'not_found', `no re-test ${req.params.id} (unknown, or older than the kept history)`);
      return run;
    },
  );
}
