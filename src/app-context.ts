import { hostname as osHostname } from 'node:os';
import type { Logger } from 'pino';
import { systemClock, type Clock } from './clock.js';
import { secretValuesOf, type Config, type ConfigWarning } from './config.js';
import { createLogger } from './logger.js';
import { MergeGate } from './merge-gate/gate.js';
import { createRegistry } from './metrics.js';
import { alertmanagerSection } from './notify/alertmanager.js';
import { QueuedDelivery } from './notify/delivery.js';
import { buildNotifiers } from './notify/index.js';
import type { Notifier } from './notify/notifier.js';
import { registerSecretValues } from './redact.js';
import { buildCollectors, dockerReaderFor } from './sources/index.js';
import { ProcCollector } from './sources/proc/collector.js';
import { StateStore } from './state/state-store.js';
import { AgentDirectory } from './watchdog/agent-directory.js';
import { RetestRegistry } from './watchdog/retest-registry.js';
import type { Collector } from './watchdog/signal.js';
import { AlertSink, createWatchdogMetrics, Watchdog } from './watchdog/tick.js';

/** The collaborators a test (or another host) may replace; everything else is built from config. */
export interface AppDeps {
  clock?: Clock;
  log?: Logger;
  configWarnings?: ConfigWarning[];
  proc?: ProcCollector;
  mergeGate?: MergeGate;
  collectors?: Collector[];
  notifiers?: Notifier[];
  hostname?: string;
}

/** What route plugins and services share inside one app instance. */
export type AppContext = ReturnType<typeof createContext>;

/** The services wired from config (the watchdog not ticking until `watchdog.start()`); `state` only with WATCHDOG_STATE_FILE. */
export function createContext(config: Config, deps: AppDeps) {
  // whatever a peer echoes back (a receiver's 404 quoting its URL) is hidden before it is logged or kept
  registerSecretValues(secretValuesOf(config));
  const log = deps.log ?? createLogger();
  const clock = deps.clock ?? systemClock;
  const configWarnings = deps.configWarnings ?? [];
  const registry = createRegistry(configWarnings);
  const metrics = createWatchdogMetrics(registry);
  const notifiers = deps.notifiers ?? buildNotifiers(config, { log, clock });
  const delivery = new QueuedDelivery(notifiers, { log, registry });
  // every alert (tick, reaper, merge gate) leaves through it
  const alerts = new AlertSink(delivery, { clock, log, metrics, hostname: deps.hostname ?? osHostname() });
  // the orchestrator collector fills it, the /proc scan reads it: owners and never-signalled pids
  const agents = new AgentDirectory();
  // the merge gate registers its re-tests here, the /proc scan names them as owners
  const retests = new RetestRegistry();
  // one Engine client for the container checks and for locating the orchestrator's container
  const docker = dockerReaderFor(config);
  const proc =
    deps.proc ?? new ProcCollector(config, { registry, log, emitEdge: (s) => alerts.emitEdge(s), agents, retests, clock, docker });
  const collectors = deps.collectors ?? buildCollectors(config, { proc, registry, docker, agents });
  const watchdog = new Watchdog(config, { collectors, sink: alerts, metrics, clock, log });
  // what the /proc scan knows about a pid: the merge gate names it beside a lock holder
  const knownAs = (pid: number) => {
    const c = proc.view().candidates.find((x) => x.pid === pid);
    if (!c) return null;
    return c.match === 'leftover' ? 'leftover' : c.isBlocking ? 'blocking' : 'candidate';
  };
  const mergeGate =
    deps.mergeGate ?? new MergeGate(config, { clock, log, registry, onExhausted: (s) => alerts.emitEdge(s), knownAs, retests });
  const state = config.stateFile === '' ? undefined : new StateStore({ path: config.stateFile, clock, log, registry });
  // restored in registration order: what Alertmanager fires before the undelivered events that refer to it; the merge gate
  // last: restoring it starts the queued re-tests
  if (state) {
    for (const section of [watchdog.stateSection(), alertmanagerSection(notifiers, log), delivery.stateSection()]) state.register(section);
    state.register(mergeGate.stateSection());
  }
  return { config, configWarnings, clock, log, registry, watchdog, alerts, delivery, proc, mergeGate, agents, retests, state };
}
