import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../src/app-context.js';
import { isoUtc } from '../src/clock.js';
import { FAMILIES } from '../src/watchdog/signal.js';
import { isoTimestamp } from './schemas.js';

const stateSchema = z.object({
  key: z.string().describe("the signal's key"),
  family: z.enum(FAMILIES),
  entity: z.string().nullable(),
  alerting: z.boolean().describe('an ALERT went out and no RECOVERY yet'),
  last_alert_at: isoTimestamp.nullable().describe('the last ALERT or REALERT'),
});

export async function alertStatesRoutes(app: FastifyInstance, { ctx }: { ctx: AppContext }): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/alert-states',
    {
      schema: {
        summary: 'The in-memory AlertState of every non-edge signal',
        response: { 200: z.object({ states: z.array(stateSchema) }) },
      },
    },
    async () => ({
      states: ctx.watchdog.alertStates().map((s) => ({
        key: s.key,
        family: s.family,
        entity: s.entity,
        alerting: s.alerting,
        last_alert_at: s.lastAlertAt === null ? null : isoUtc(s.lastAlertAt),
      })),
    }),
  );
}
