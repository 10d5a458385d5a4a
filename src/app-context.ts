import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { ProcCollector } from './collectors/proc/collector.js';
import type { Config, ConfigWarning } from './config.js';
import type { MergeGate } from './merge-gate/queue.js';
import type { CoreMetrics } from './metrics.js';
import type { Delivery } from './notify/delivery.js';
import type { Watchdog } from './watchdog/tick.js';

/** What route plugins and services share inside one app instance. */
export interface AppContext {
  config: Config;
  configWarnings: ConfigWarning[];
  clock: Clock;
  log: Logger;
  metrics: CoreMetrics;
  watchdog: Watchdog;
  delivery: Delivery;
  hostname: string;
  /** The /proc scan (always present; answers `enabled: false` when WATCHDOG_PROC_ENABLED is off). */
  proc: ProcCollector;
  /** The merge-gate re-test queue behind /merge-gate/retests and /queue. */
  mergeGate: MergeGate;
}
