import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../src/app-context.js';
import { isoUtc } from '../src/clock.js';
import { isoTimestamp } from './schemas.js';

const healthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']).describe('degraded: no tick yet or a stale one, a failed collector, or a configuration problem'),
    last_tick_at: isoTimestamp.nullable().describe('when the last tick finished; null before the first'),
    tick_count: z.number().int().describe('ticks finished since start'),
    last_tick_duration_s: z.number().nullable().describe('how long the last tick took'),
    config_warnings: z
      .array(
        z.object({
          key: z.string().describe('the WATCHDOG_* variable'),
          value: z.string().describe('as given: *** for secrets and unknown keys, scheme and host only for URLs'),
          message: z.string().describe('the problem, and what is used instead'),
        }),
      )
      .describe('every configuration problem: malformed values, unknown keys, missing privileges (docs/behaviour.md, Configuration)'),
    failed_collectors: z.array(z.string()).describe('collectors that threw or timed out in the last tick'),
    agent_pid_warnings: z
      .array(
        z.object({
          key: z.string().describe('the setting that fixes it: WATCHDOG_ORCH_CONTAINER'),
          value: z.string().describe("the setting's current value"),
          run_id: z.string().nullable().describe('the agent whose pid it is; null when it concerns every agent'),
          pid: z.number().int().nullable().describe("the envelope's pid"),
          message: z.string(),
        }),
      )
      .describe(
        "envelope agent pids that cannot be the agents' on this host (no such process, pid 1, a kernel thread, another PID namespace), seen in two /proc scans in a row",
      ),
    state: z
      .object({
        ok: z.boolean().describe('false: the file was refused at start (memory only), or the last save failed'),
        last_saved_at: isoTimestamp.nullable().describe('the file last held the current state (written, or found unchanged)'),
        error: z.string().nullable().describe('why the file was refused, or why the last save failed (retried with the next save)'),
      })
      .nullable()
      .describe('WATCHDOG_STATE_FILE; null when it is not set (memory only by choice)'),
  })
  .meta({ id: 'Health' });

export async function healthzRoutes(app: FastifyInstance, { ctx }: { ctx: AppContext }): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: 503 until the first tick finished, and when none finished within 3 × WATCHDOG_TICK_S',
        description:
          'A watchdog that has not looked at anything yet is not healthy: right after start the answer is 503 with tick_count 0 ' +
          'until the first tick (which starts at once) finishes. Probes allow for it: the image HEALTHCHECK has a start period, ' +
          'the Kubernetes DaemonSet a startup probe.',
        response: { 200: healthSchema, 503: healthSchema },
      },
    },
    async (_req, reply) => {
      const last = ctx.watchdog.lastTick();
      const stale = last === null || ctx.clock() - last.at > 3 * ctx.config.tickS * 1000;
      const failed = last?.failed ?? [];
      const pidWarnings = ctx.agents.pidWarnings();
      const state = ctx.state?.health();
      const isDegraded = stale || failed.length > 0 || ctx.configWarnings.length > 0 || pidWarnings.length > 0 || state?.ok === false;
      const body = {
        status: isDegraded ? ('degraded' as const) : ('ok' as const),
        last_tick_at: last ? isoUtc(last.at) : null,
        tick_count: ctx.watchdog.ticks(),
        last_tick_duration_s: last ? Number(last.durationS.toFixed(6)) : null,
        config_warnings: ctx.configWarnings,
        failed_collectors: failed,
        agent_pid_warnings: pidWarnings.map((w) => ({ key: w.key, value: w.value, run_id: w.runId, pid: w.pid, message: w.message })),
        state: state
          ? { ok: state.ok, last_saved_at: state.lastSavedAt === null ? null : isoUtc(state.lastSavedAt), error: state.error }
          : null,
      };
      return reply.code(stale ? 503 : 200).send(body);
    },
  );
}
