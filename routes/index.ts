import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../src/app-context.js';
import { alertStatesRoutes } from './alert-states.js';
import { requireBearer } from './auth.js';
import { docsRoutes } from './docs.js';
import { healthzRoutes } from './healthz.js';
import { mergeGateRoutes } from './merge-gate.js';
import { metricsRoutes } from './metrics.js';
import { procRoutes } from './proc.js';
import { queueRoutes } from './queue.js';
import { signalsRoutes } from './signals.js';

/** One plugin per resource; each gets the app's shared context. */
export async function registerRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  // Deny by default: every write route, present or future, checks the token first, at onRequest,
  // so an unauthenticated caller never reaches body validation (a 400 naming `cwd` would probe the disk).
  const bearer = requireBearer(ctx.config.apiToken);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.every((m) => m === 'GET' || m === 'HEAD')) return;
    const own = route.onRequest ? (Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]) : [];
    route.onRequest = [bearer, ...own];
  });
  await app.register(healthzRoutes, { ctx });
  await app.register(signalsRoutes, { ctx });
  await app.register(alertStatesRoutes, { ctx });
  await app.register(metricsRoutes, { ctx });
  await app.register(procRoutes, { ctx });
  await app.register(queueRoutes, { ctx });
  await app.register(mergeGateRoutes, { ctx });
  await app.register(docsRoutes);
}
