import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { clientErrors, frameworkErrors, HttpError, registerErrorHandlers } from '../routes/errors.js';
import { mergeGateRoutes } from '../routes/merge-gate.js';
import { observeRoutes } from '../routes/observe.js';
import { registerOpenApi } from '../routes/openapi.js';
import { procRoutes } from '../routes/proc.js';
import { createContext, type AppContext, type AppDeps } from './app-context.js';
import { isoUtc } from './clock.js';
import type { Config } from './config.js';
import { apiServerFactory } from './http-server.js';
import type { StateStore } from './state/state-store.js';

declare module 'fastify' {
  interface FastifyInstance {
    ctx: AppContext;
  }
}

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

/** An unlistened app: routes, metrics, watchdog (not ticking until `ctx.watchdog.start()`). */
export async function buildApp(config: Config, deps: AppDeps = {}): Promise<FastifyInstance> {
  const ctx = createContext(config, deps);
  const { log, registry, state } = ctx;
  const app = Fastify({
    serverFactory: apiServerFactory({ maxParallelRetests: config.mergeMaxParallel, registry, log }),
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- selects Fastify's logger type parameter
    loggerInstance: log as FastifyBaseLogger,
    // Scrapes and polls would flood the log; every write (terminate, re-test) is logged for audit.
    logController: new LogController({ disableRequestLogging: (req) => req.method === 'GET' }),
    forceCloseConnections: true,
    frameworkErrors,
    clientErrorHandler: clientErrors,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandlers(app);
  // Every body is JSON: a text/plain one is a 415 naming the right type, not a 400 "expected object, received string".
  app.removeContentTypeParser('text/plain');
  app.decorate('ctx', ctx);
  await registerOpenApi(app);
  // Deny by default: every write route, present or future, checks the token first, at onRequest,
  // so an unauthenticated caller never reaches body validation (a 400 naming `cwd` would probe the disk).
  const bearer = requireBearer(config.apiToken);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.every((m) => m === 'GET' || m === 'HEAD')) return;
    const own = route.onRequest ? (Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]) : [];
    route.onRequest = [bearer, ...own];
  });
  await app.register(observeRoutes, { ctx });
  await app.register(procRoutes, { ctx });
  await app.register(mergeGateRoutes, { ctx });
  if (state) {
    // another watchdog holding the file: this app is shut down before anything of it runs, and that is thrown
    try {
      ctx.configWarnings.push(...(await state.load()));
    } catch (err) {
      await shutDown(ctx);
      throw err;
    }
    state.start();
  }
  app.addHook('onClose', () => shutDown(ctx));
  return app;
}

/** Shutdown order: stop ticking, kill running re-tests (whole tree), end terminations, flush, save state. */
async function shutDown(ctx: AppContext): Promise<void> {
  await ctx.watchdog.stop();
  await ctx.mergeGate.close();
  // a termination still in its grace must still get its SIGKILL before the process exits
  await ctx.proc.stops.settle();
  await ctx.proc.close();
  await ctx.delivery.flush(5000);
  // What is still undelivered is kept for the next start instead of being lost.
  if (ctx.state && !(await ctx.state.close())) reportUnsaved(ctx, ctx.state);
  await ctx.delivery.close();
}

/** The final save failed (or the file was refused at start): say what this shutdown loses. */
function reportUnsaved(ctx: AppContext, state: StateStore): void {
  const { queued } = ctx.mergeGate.counters();
  const undelivered = Object.values(ctx.delivery.pending()).reduce((n, events) => n + events.length, 0);
  const { error, lastSavedAt } = state.health();
  const savedAt = lastSavedAt === null ? null : isoUtc(lastSavedAt);
  ctx.log.error(
    { path: state.path, error, last_saved_at: savedAt, queued_retests: queued, undelivered_alerts: undelivered },
    `state file not saved at shutdown (${error ?? 'unknown'}): it holds the state of ${savedAt ?? 'no save by this process'}; ` +
      `of ${queued} queued re-tests and ${undelivered} undelivered alerts, whatever came later is lost: post those re-tests again`,
  );
}
