import type { FastifyInstance, FastifyReply } from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../src/app-context.js';
import { isoUtc } from '../src/clock.js';
import { isoTimestamp, signalSchema } from './schemas.js';

const signalsResponse = z.object({
  generated_at: isoTimestamp.nullable().describe('when the last tick finished; null before the first'),
  signals: z.array(signalSchema).describe('every signal of the last tick, active or not'),
});

export async function signalsRoutes(app: FastifyInstance, { ctx }: { ctx: AppContext }): Promise<void> {
  const serialize = serializerCompiler({ schema: signalsResponse, method: 'GET', url: '/signals', httpStatus: '200' });
  // Encoded once per tick, not per request: dashboards poll far more often than the tick runs.
  let cached: { tick: unknown; body: string } | null = null;
  app
    .withTypeProvider<ZodTypeProvider>()
    .get(
      '/signals',
      { schema: { summary: "The last tick's signals, active and inactive", response: { 200: signalsResponse } } },
      async (_req, reply) => {
        const last = ctx.watchdog.lastTick();
        if (cached?.tick !== last) {
          cached = { tick: last, body: serialize({ generated_at: last ? isoUtc(last.at) : null, signals: last?.signals ?? [] }) };
        }
        // a string with a JSON content type is sent as it is (the route's serializer would encode it again)
        return (reply as FastifyReply).type('application/json; charset=utf-8').send(cached.body);
      },
    );
}
