import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../src/app-context.js';
import { isoUtc } from '../src/clock.js';
import { ERROR_CODES, HttpError, writeErrorResponses, type ErrorCode } from './errors.js';
import { isoTimestamp, snakeKeys } from './observe.js';

const ownerSchema = z
  .union([
    z.object({ kind: z.literal('agent'), run_id: z.string(), task: z.string().nullable(), stage: z.string().nullable() }),
    z.object({ kind: z.literal('retest'), id: z.string() }),
    z.null(),
  ])
  .describe(
    'the orchestrator agent (from the envelope) or merge-gate re-test that started the run, remembered after it is gone; null when unknown',
  )
  .meta({ id: 'ProcOwner' });

const candidateSchema = z
  .object({
    pid: z.number().int(),
    ppid: z.number().int().describe('parent pid'),
    pgid: z.number().int().describe('process group (informational: terminate stops the run by pid, never a whole group)'),
    age_s: z.number().describe('seconds since the process started'),
    cpu_s: z.number().describe('user + system CPU time'),
    cmdline: z.string().describe('secrets redacted, at most 512 characters'),
    orphaned: z.boolean().describe('parent is pid 1 or an init/subreaper (tini, dumb-init, docker-init, systemd…)'),
    blocking: z.boolean().describe('older than WATCHDOG_PROC_AGE_MIN; a leftover: its run gone for WATCHDOG_PROC_LEFTOVER_GRACE_S'),
    match: z
      .enum(['program', 'cmdline', 'leftover'])
      .describe('`program`/`cmdline`: matched WATCHDOG_PROC_PATTERNS (per WATCHDOG_PROC_MATCH); `leftover`: survived its test run'),
    run_pid: z.number().int().describe("the run's top test process (itself for the top); an alert is raised per run"),
    owner: ownerSchema,
    locks: z
      .array(
        z.object({
          path: z.string().describe('the locked file'),
          kind: z.string().describe('the lock type and mode: `flock write`, `posix read`, `ofd write`'),
        }),
      )
      .describe('file locks it holds'),
    ports: z.array(z.number().int()).describe('TCP ports it listens on'),
  })
  .meta({ id: 'ProcCandidate' });

const candidatesSchema = z.object({
  enabled: z.boolean().describe('WATCHDOG_PROC_ENABLED'),
  threshold_s: z.number().describe('WATCHDOG_PROC_AGE_MIN in seconds: older runs are blocking'),
  scanned_at: isoTimestamp.nullable().describe('the last scan; null before the first'),
  candidates: z.array(candidateSchema).describe('oldest first'),
});

const terminatedSchema = z.object({
  pid: z.number().int().describe('the candidate asked for'),
  signalled: z.literal('SIGTERM').describe('sent now; SIGKILL follows after WATCHDOG_KILL_GRACE_S to whatever still runs'),
  run_pid: z.number().int().describe("the run's top: what was stopped is that run"),
  processes: z
    .array(
      z.object({
        pid: z.number().int(),
        comm: z.string().describe('the process name'),
        signal: z.enum(['SIGTERM', 'SIGKILL']),
        at: isoTimestamp,
      }),
    )
    .describe("exactly the run's processes that got SIGTERM, each re-checked (pid, start time) first"),
  kill_after_s: z.number().describe('WATCHDOG_KILL_GRACE_S: SIGKILL after this to whatever is left'),
});

export const procRoutes: FastifyPluginAsyncZod<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get(
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
        candidates: view.candidates.map(({ pgrp, isOrphaned, isBlocking, run, ...c }) => ({
          ...(snakeKeys(c) as z.infer<typeof candidateSchema>),
          pgid: pgrp,
          orphaned: isOrphaned,
          blocking: isBlocking,
          run_pid: run.pid,
        })),
      };
    },
  );

  app.post(
    '/proc/candidates/:pid/terminate',
    {
      schema: {
        summary: 'SIGTERM → grace → SIGKILL the run of a current candidate',
        description:
          "Stops exactly the run's processes (its top test process, its descendants, or a finished run's leftovers), never a shell " +
          'or agent that started it, the watchdog or pid ≤ 1. Answers 202 as soon as SIGTERM is sent; SIGKILL follows in the ' +
          'background after WATCHDOG_KILL_GRACE_S. Every process is re-checked (same start time, not protected, the top still matching) before each signal; 409 says why not.',
        security: [{ bearerAuth: [] }],
        params: z.object({ pid: z.string().regex(/^\d{1,10}$/, 'pid must be a positive whole number') }),
        response: {
          202: terminatedSchema,
          ...writeErrorResponses(
            'bad_request',
            'not_found',
            ...(Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => ERROR_CODES[c].when.startsWith('terminate:')),
          ),
        },
      },
    },
    async (req, reply) => {
      const pid = Number(req.params.pid);
      const answer = await ctx.proc.stops.terminate(pid);
      if (!answer.ok) throw new HttpError(answer.code === 'not_candidate' ? 'not_found' : answer.code, answer.message);
      req.log.warn({ pid, runPid: answer.runPid, pids: answer.terminated.map((p) => p.pid) }, 'terminate requested over the API');
      return reply.code(202).send({
        pid,
        signalled: 'SIGTERM' as const,
        run_pid: answer.runPid,
        processes: answer.terminated.map((p) => ({ ...p, at: isoUtc(p.at) })),
        kill_after_s: ctx.config.killGraceS,
      });
    },
  );
};
