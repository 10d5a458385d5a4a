import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../src/app-context.js';
import { countersSchema, countersToWire } from './merge-gate-wire.js';

export async function queueRoutes(app: FastifyInstance, { ctx }: { ctx: AppContext }): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/queue',
    {
      schema: {
        summary: 'Merge-gate counters (read-only)',
        response: {
          200: z.object({ merge_gate: countersSchema.describe('the merge-gate counters since start (or restored from the state file)') }),
        },
      },
    },
    async () => ({ merge_gate: countersToWire(ctx.mergeGate.counters()) }),
  );
}
