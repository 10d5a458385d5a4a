import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../src/app-context.js';
import { isoUtc } from '../src/clock.js';
import { errorSchema, HttpError } from './errors.js';
import { isoTimestamp } from './schemas.js';

const candidateSchema = z
  .object({
    pid: z.number().int(),
    ppid: z.number().int(),
    pgid: z.number().int().describe('process group; `kill -TERM -- -<pgid>` stops the whole test run'),
    age_s: z.number(),
    cpu_s: z.number().describe('user + system CPU time'),
    cmdline: z.string().describe('secrets redacted, at most 512 characters'),
    orphaned: z.boolean().describe('parent is pid 1 or an init/subreaper (tini, dumb-init, docker-init, systemd…)'),
    blocking: z.boolean().describe('older than WATCHDOG_PROC_AGE_MIN'),
  })
  .meta({ id: 'ProcCandidate' });

const candidatesSchema = z.object({
  enabled: z.boolean(),
  threshold_s: z.number(),
  scanned_at: isoTimestamp.nullable(),
  candidates: z.array(candidateSchema),
});

const terminatedSchema = z.object({
  pid: z.number().int(),
  signalled: z.literal('SIGTERM').describe('sent now; SIGKILL follows after WATCHDOG_KILL_GRACE_S if it is still running'),
  target: z.enum(['group', 'process']).describe('the process group, or the pid alone when its group is the watchdog\'s own'),
  pgid: z.number().int(),
  kill_after_s: z.number(),
});

export async function procRoutes(app: FastifyInstance, { ctx }: { ctx: AppContext }): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/proc/candidates',
    {
      schema: {
        summary: 'Processes matching WATCHDOG_PROC_PATTERNS at the last scan, oldest first',
        response: { 200: candidatesSchema },
      },
    },
    async () => {
      const view = ctx.proc.view();
      return {
        enabled: view.enabled,
        threshold_s: view.thresholdS,
        scanned_at: view.scannedAt === null ? null : isoUtc(view.scannedAt),
        candidates: view.candidates.map((c) => ({
          pid: c.pid,
          ppid: c.ppid,
          pgid: c.pgrp,
          age_s: c.ageS,
          cpu_s: c.cpuS,
          cmdline: c.cmdline,
          orphaned: c.isOrphaned,
          blocking: c.isBlocking,
        })),
      };
    },
  );

  r.post(
    '/proc/candidates/:pid/terminate',
    {
      schema: {
        summary: 'SIGTERM → grace → SIGKILL the process group of a current candidate',
        description:
          'Answers 202 as soon as SIGTERM is sent; SIGKILL follows in the background after WATCHDOG_KILL_GRACE_S. ' +
          'The pid is re-checked (same start time, still matching) before each signal.',
        security: [{ bearerAuth: [] }],
        params: z.object({ pid: z.string().regex(/^\d{1,10}$/, 'pid must be a positive whole number') }),
        response: { 202: terminatedSchema, 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      const pid = Number(req.params.pid);
      const answer = await ctx.proc.terminate(pid);
      if (!answer.ok) {
        if (answer.code === 'not_candidate') throw new HttpError(404, 'not_found', answer.message);
        throw new HttpError(409, answer.code, answer.message);
      }
      req.log.warn({ pid, pgid: answer.pgrp, target: answer.target }, 'terminate requested over the API');
      return reply.code(202).send({ pid, signalled: 'SIGTERM' as const, target: answer.target, pgid: answer.pgrp, kill_after_s: ctx.config.killGraceS });
    },
  );
}
