import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Clock } from './clock.js';
import type { ProcCollector } from './sources/proc/collector.js';
import type { Config, ConfigWarning } from './config.js';
import type { MergeGate } from './merge-gate/gate.js';
import type { QueuedDelivery } from './notify/delivery.js';
import type { StateStore } from './state/state-store.js';
import type { AgentDirectory } from './watchdog/agent-directory.js';
import type { RetestRegistry } from './watchdog/retest-registry.js';
import type { AlertSink, Watchdog } from './watchdog/tick.js';

/** What route plugins and services share inside one app instance. */
export interface AppContext {
  config: Config;
  configWarnings: ConfigWarning[];
  clock: Clock;
  log: Logger;
  /** The app's one metrics registry, served at /metrics. */
  registry: Registry;
  watchdog: Watchdog;
  /** Every alert (tick, reaper, merge gate) leaves through it. */
  alerts: AlertSink;
  delivery: QueuedDelivery;
  /** The /proc scan (always present; answers `enabled: false` when WATCHDOG_PROC_ENABLED is off). */
  proc: ProcCollector;
  mergeGate: MergeGate;
  /** The latest envelope's agents (filled by the orchestrator collector). */
  agents: AgentDirectory;
  /** Re-tests in flight: the merge gate registers them, the /proc scan reads them. */
  retests: RetestRegistry;
  /** WATCHDOG_STATE_FILE's sections (absent = memory only). */
  state?: StateStore;
}
