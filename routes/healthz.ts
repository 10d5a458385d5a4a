import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../src/app-context.js';
import { isoUtc } from '../src/clock.js';
import { isoTimestamp } from './schemas.js';

const healthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    last_tick_at: isoTimestamp.nullable(),
    tick_count: z.number().int(),
    last_tick_duration_s: z.number().nullable(),
    config_warnings: z.array(z.object({ key: z.string(), value: z.string(), message: z.string() })),
    failed_collectors: z.array(z.string()).describe('collectors that threw or timed out in the last tick'),
  })
  .meta({ id: 'Health' });

export async function healthzRoutes(app: FastifyInstance, { ctx }: { ctx: AppContext }): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: 503 when no tick finished within 3 × WATCHDOG_TICK_S',
        response: { 200: healthSchema, 503: healthSchema },
      },
    },
    async (_req, reply) => {
      const last = ctx.watchdog.lastTick();
      const since = last?.at ?? ctx.watchdog.startedAt;
      const stale = ctx.clock() - since > 3 * ctx.config.tickS * 1000;
      const failed = last?.failed ?? [];
      const body = {
        status: stale || failed.length > 0 || ctx.configWarnings.length > 0 ? ('degraded' as const) : ('ok' as const),
        last_tick_at: last ? isoUtc(last.at) : null,
        tick_count: ctx.watchdog.ticks(),
        last_tick_duration_s: last ? Number(last.durationS.toFixed(6)) : null,
        config_warnings: ctx.configWarnings,
        failed_collectors: failed,
      };
      return reply.code(stale ? 503 : 200).send(body);
    },
  );
}
