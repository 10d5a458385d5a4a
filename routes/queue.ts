import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../src/app-context.js';
import { OUTCOMES } from '../src/merge-gate/types.js';

const countersSchema = z
  .object({
    runs_total: z.number().int().describe('re-test attempts finished (skipped included)'),
    running: z.number().int(),
    queued: z.number().int(),
    outcomes: z.object(Object.fromEntries(OUTCOMES.map((o) => [o, z.number().int()])) as Record<(typeof OUTCOMES)[number], z.ZodNumber>),
    infra_requeues: z.number().int(),
    infra_exhausted: z.number().int(),
  })
  .meta({ id: 'MergeGateCounters' });

export async function queueRoutes(app: FastifyInstance, { ctx }: { ctx: AppContext }): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/queue',
    {
      schema: {
        summary: 'Merge-gate counters (read-only)',
        response: { 200: z.object({ merge_gate: countersSchema }) },
      },
    },
    async () => ({ merge_gate: ctx.mergeGate.counters() }),
  );
}
