import { hostname as osHostname } from 'node:os';
import type { Server } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyServerFactory } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { clientErrors, frameworkErrors, registerErrorHandlers } from '../routes/errors.js';
import { registerRoutes } from '../routes/index.js';
import { registerOpenApi } from '../routes/openapi.js';
import type { AppContext } from './app-context.js';
import { isoUtc, systemClock } from './clock.js';
import { buildCollectors, dockerReaderFor } from './sources/index.js';
import type { DockerReader } from './sources/containers/docker-client.js';
import { ProcCollector } from './sources/proc/collector.js';
import { MergeGate } from './merge-gate/gate.js';
import type { Config } from './config.js';
import { apiServerFactory } from './http-server.js';
import { createLogger } from './logger.js';
import { registerSecretValues } from './redact.js';
import { secretValuesOf } from './config/secret-values.js';
import { createRegistry, exposeConfigWarnings } from './metrics.js';
import { createDelivery, deliverySection } from './notify/delivery.js';
import { buildNotifiers } from './notify/index.js';
import { alertmanagerSection } from './notify/alertmanager.js';
import { StateStore } from './state/state-store.js';
import type { Notifier } from './notify/notifier.js';
import { AgentDirectory } from './watchdog/agent-directory.js';
import type { Collector } from './watchdog/signal.js';
import { createWatchdogMetrics } from './watchdog/metrics.js';
import { RetestRegistry } from './watchdog/retest-registry.js';
import { AlertSink, collectorBudgetMs, Watchdog } from './watchdog/tick.js';

declare module 'fastify' {
  interface FastifyInstance {
    ctx: AppContext;
  }
}

/** The collaborators a test (or another host) may replace; everything else is built from config. */
export type AppDeps = Partial<Pick<AppContext, 'clock' | 'log' | 'configWarnings' | 'proc' | 'mergeGate'>> & {
  collectors?: Collector[];
  notifiers?: Notifier[];
  hostname?: string;
  docker?: DockerReader;
};

/** An unlistened app: routes, metrics, watchdog (not ticking until `ctx.watchdog.start()`). */
export async function buildApp(config: Config, deps: AppDeps = {}): Promise<FastifyInstance> {
  // whatever a peer echoes back (a receiver's 404 quoting its URL) is hidden before it is logged or kept
  registerSecretValues(secretValuesOf(config));
  const log = deps.log ?? createLogger();
  const clock = deps.clock ?? systemClock;
  const configWarnings = deps.configWarnings ?? [];
  const registry = createRegistry();
  exposeConfigWarnings(registry, configWarnings);
  const watchdogMetrics = createWatchdogMetrics(registry);

  const app = createFastify(log, apiServerFactory({ maxParallelRetests: config.mergeMaxParallel, registry, log }));

  const notifiers = deps.notifiers ?? buildNotifiers(config, { log, clock });
  const delivery = createDelivery(notifiers, { log, registry });
  const hostname = deps.hostname ?? osHostname();
  const alerts = new AlertSink(delivery, { clock, log, metrics: watchdogMetrics, hostname });
  // the orchestrator collector fills it, the /proc scan reads it: owners and never-signalled pids
  const agents = new AgentDirectory();
  // the merge gate registers its re-tests here, the /proc scan names them as owners
  const retests = new RetestRegistry();
  // one Engine client for the container checks and for locating the orchestrator's container
  const docker = deps.docker ?? dockerReaderFor(config);
  const proc =
    deps.proc ?? new ProcCollector(config, { registry, log, emitEdge: (s) => alerts.emitEdge(s), agents, retests, clock, docker });
  const collectors = deps.collectors ?? buildCollectors(config, { proc, registry, docker, agents });
  const watchdog = new Watchdog(
    { tickS: config.tickS, cooldownS: config.cooldownS, collectorTimeoutMs: collectorBudgetMs(config) },
    { collectors, sink: alerts, metrics: watchdogMetrics, clock, log },
  );
  // what the /proc scan knows about a pid: the merge gate names it beside a lock holder
  const knownAs = (pid: number) => {
    const c = proc.view().candidates.find((x) => x.pid === pid);
    if (!c) return null;
    return c.match === 'leftover' ? 'leftover' : c.isBlocking ? 'blocking' : 'candidate';
  };
  const mergeGate =
    deps.mergeGate ?? new MergeGate(config, { clock, log, registry, onExhausted: (s) => alerts.emitEdge(s), knownAs, retests });

  const ctx: AppContext = { config, configWarnings, clock, log, registry, watchdog, alerts, delivery, proc, mergeGate, agents, retests };
  if (config.stateFile !== '') {
    // restored in registration order: what Alertmanager fires before the undelivered events that refer to it
    ctx.state = new StateStore({ path: config.stateFile, clock, log, registry });
    ctx.state.register(watchdog.stateSection());
    ctx.state.register(alertmanagerSection(notifiers, log));
    ctx.state.register(deliverySection(delivery, log));
    // last: restoring it starts the queued re-tests
    ctx.state.register(mergeGate.stateSection());
  }
  app.decorate('ctx', ctx);

  await registerOpenApi(app);
  await registerRoutes(app, ctx);
  await loadState(ctx);

  app.addHook('onClose', () => shutDown(ctx));
  return app;
}

/** Restores the state file; when another watchdog holds it, this app is shut down before anything of it runs, and that is thrown. */
async function loadState(ctx: AppContext): Promise<void> {
  if (!ctx.state) return;
  try {
    ctx.configWarnings.push(...(await ctx.state.load()));
  } catch (err) {
    await shutDown(ctx);
    throw err;
  }
  ctx.state.start();
}

/** Fastify with the zod compilers, the error answers, JSON-only bodies and the listening socket's limits. */
function createFastify(log: Logger, serverFactory: FastifyServerFactory<Server>): FastifyInstance {
  const app = Fastify({
    serverFactory,
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
