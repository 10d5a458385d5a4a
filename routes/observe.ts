import type { FastifyReply } from 'fastify';
import { serializerCompiler, type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../src/app-context.js';
import { isoUtc } from '../src/clock.js';
import { FAMILIES } from '../src/watchdog/signal.js';

export const isoTimestamp = z.string().describe('ISO-8601 UTC timestamp');
const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A model's camelCase keys as the wire's snake_case, all the way down; the response schema drops what it does not name. */
export function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), snakeKeys(v)]));
}

const signalSchema = z
  .object({
    key: z.string().describe('`family` or `family:entity`'),
    family: z.enum(FAMILIES).describe('docs/behaviour.md, Families'),
    entity: z.string().nullable().describe('the run id, path, container, dependency, pid or repo@branch; null for a family without one'),
    active: z.boolean().describe('the problem is present now'),
    severity: z.enum(['critical', 'warning']),
    title: z.string().describe('one line for a human (WATCHDOG_LOCALE), secrets redacted'),
    detail: z.string().describe('what and what to do, secrets redacted'),
  })
  .meta({ id: 'Signal' });

const signalsResponse = z.object({
  generated_at: isoTimestamp.nullable().describe('when the last tick finished; null before the first'),
  signals: z.array(signalSchema).describe('every signal of the last tick, active or not'),
});

const stateSchema = z.object({
  key: z.string().describe("the signal's key"),
  family: z.enum(FAMILIES),
  entity: z.string().nullable(),
  alerting: z.boolean().describe('an ALERT went out and no RECOVERY yet'),
  last_alert_at: isoTimestamp.nullable().describe('the last ALERT or REALERT'),
});

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

const isoOrNull = (ms: number | null): string | null => (ms === null ? null : isoUtc(ms));

/** What the last tick saw, and the service's own liveness and metrics. */
export const observeRoutes: FastifyPluginAsyncZod<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get(
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
      const last = ctx.watchdog.lastTick;
      const stale = last === null || ctx.clock() - last.at > 3 * ctx.config.tickS * 1000;
      const failed = last?.failed ?? [];
      const pidWarnings = ctx.agents.pidWarnings;
      const state = ctx.state?.health();
      const isDegraded = stale || failed.length > 0 || ctx.configWarnings.length > 0 || pidWarnings.length > 0 || state?.ok === false;
      return reply.code(stale ? 503 : 200).send({
        status: isDegraded ? 'degraded' : 'ok',
        last_tick_at: last ? isoUtc(last.at) : null,
        tick_count: ctx.watchdog.ticks,
        last_tick_duration_s: last ? Number(last.durationS.toFixed(6)) : null,
        config_warnings: ctx.configWarnings,
        failed_collectors: failed,
        agent_pid_warnings: pidWarnings.map((w) => ({ key: w.key, value: w.value, run_id: w.runId, pid: w.pid, message: w.message })),
        state: state ? { ok: state.ok, last_saved_at: isoOrNull(state.lastSavedAt), error: state.error } : null,
      });
    },
  );

  const serialize = serializerCompiler({ schema: signalsResponse, method: 'GET', url: '/signals', httpStatus: '200' });
  // Encoded once per tick, not per request: dashboards poll far more often than the tick runs.
  let cached: { tick: unknown; body: string } | null = null;
  app.get(
    '/signals',
    { schema: { summary: "The last tick's signals, active and inactive", response: { 200: signalsResponse } } },
    async (_req, reply) => {
      const last = ctx.watchdog.lastTick;
      if (cached?.tick !== last) {
        cached = { tick: last, body: serialize({ generated_at: last ? isoUtc(last.at) : null, signals: last?.signals ?? [] }) };
      }
      // a string with a JSON content type is sent as it is (the route's serializer would encode it again)
      return (reply as FastifyReply).type('application/json; charset=utf-8').send(cached.body);
    },
  );

  app.get(
    '/alert-states',
    {
      schema: {
        summary: 'The in-memory AlertState of every non-edge signal',
        response: { 200: z.object({ states: z.array(stateSchema) }) },
      },
    },
    async () => ({ states: ctx.watchdog.states.list().map(({ lastAlertAt, ...s }) => ({ ...s, last_alert_at: isoOrNull(lastAlertAt) })) }),
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus text exposition',
        produces: ['text/plain'],
        response: { 200: z.string().describe('Prometheus text exposition format 0.0.4') },
      },
    },
    async (_req, reply) => reply.type(ctx.registry.contentType).send(await ctx.registry.metrics()),
  );
};
