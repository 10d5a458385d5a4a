import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../src/app-context.js';
import { isoUtc } from '../src/clock.js';
import { isoTimestamp, signalSchema } from './schemas.js';

export async function signalsRoutes(app: FastifyInstance, { ctx }: { ctx: AppContext }): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/signals',
    {
      schema: {
        summary: "The last tick's signals, active and inactive",
        response: { 200: z.object({ generated_at: isoTimestamp.nullable(), signals: z.array(signalSchema) }) },
      },
    },
    async () => {
      const last = ctx.watchdog.lastTick();
      return { generated_at: last ? isoUtc(last.at) : null, signals: last?.signals ?? [] };
    },
  );
}
