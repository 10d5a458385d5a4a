import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../src/app-context.js';

export async function metricsRoutes(app: FastifyInstance, { ctx }: { ctx: AppContext }): Promise<void> {
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus text exposition',
        produces: ['text/plain'],
        response: { 200: z.string().describe('Prometheus text exposition format 0.0.4') },
      },
    },
    async (_req, reply) => {
      const registry = ctx.registry;
      const body = await registry.metrics();
      return reply.type(registry.contentType).send(body);
    },
  );
}
