import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { clientErrors, frameworkErrors, registerErrorHandlers } from '../routes/errors.js';
import { registerRoutes } from '../routes/index.js';
import { registerOpenApi } from '../routes/openapi.js';
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
  await registerRoutes(app, ctx);
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
  await ctx.proc.settle();
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
