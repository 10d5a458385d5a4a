import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../src/app-context.js';
import { HttpError } from './errors.js';
import { mergeGateRoutes } from './merge-gate.js';
import { observeRoutes } from './observe.js';
import { procRoutes } from './proc.js';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Every non-GET route: 403 when WATCHDOG_API_TOKEN is empty (writes off), 401 on a wrong token (constant-time compare). */
function requireBearer(apiToken: string) {
  const expected = digest(apiToken);
  return async (req: FastifyRequest): Promise<void> => {
    if (apiToken === '') throw new HttpError('forbidden', 'write routes are disabled: set WATCHDOG_API_TOKEN on the server');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m?.[1]) throw new HttpError('unauthorized', 'send Authorization: Bearer <WATCHDOG_API_TOKEN>');
    if (!timingSafeEqual(digest(m[1]), expected)) throw new HttpError('unauthorized', 'the bearer token is not valid');
  };
}

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
  await app.register(observeRoutes, { ctx });
  await app.register(procRoutes, { ctx });
  await app.register(mergeGateRoutes, { ctx });
}
