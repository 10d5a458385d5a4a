import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { FAMILIES } from './watchdog/signal.js';

export const METRIC_PREFIX = 'orch_watchdog_';

export interface CoreMetrics {
  registry: Registry;
  tickDuration: Histogram;
  ticks: Counter;
  lastTick: Gauge;
  collectorErrors: Counter<'collector'>;
  signalsActive: Gauge<'family'>;
  alerts: Counter<'family' | 'action'>;
  configWarnings: Gauge;
}

/** One registry per app instance (never prom-client's global), so two apps in a process never collide. */
export function createCoreMetrics(registry = new Registry()): CoreMetrics {
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  // prom-client names these gauges *_total, which promtool rejects; the per-type gauges without
  // the suffix carry the same numbers.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(`${METRIC_PREFIX}${name}`);
  }
  const m: CoreMetrics = {
    registry,
    tickDuration: new Histogram({
      name: `${METRIC_PREFIX}tick_duration_seconds`,
      help: 'Duration of a watchdog tick (collect, decide, dispatch).',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    ticks: new Counter({ name: `${METRIC_PREFIX}ticks_total`, help: 'Watchdog ticks finished.', registers: [registry] }),
    lastTick: new Gauge({
      name: `${METRIC_PREFIX}last_tick_timestamp_seconds`,
      help: 'Unix time the last tick finished; alert when it goes stale.',
      registers: [registry],
    }),
    collectorErrors: new Counter({
      name: `${METRIC_PREFIX}collector_errors_total`,
      help: 'Collector runs that threw or timed out, by collector.',
      labelNames: ['collector'],
      registers: [registry],
    }),
    signalsActive: new Gauge({
      name: `${METRIC_PREFIX}signals_active`,
      help: 'Active signals of the last tick, by family.',
      labelNames: ['family'],
      registers: [registry],
    }),
    alerts: new Counter({
      name: `${METRIC_PREFIX}alerts_total`,
      help: 'Alert decisions dispatched to the notifiers, by family and action.',
      labelNames: ['family', 'action'],
      registers: [registry],
    }),
    configWarnings: new Gauge({
      name: `${METRIC_PREFIX}config_warnings`,
      help: 'Configuration values that were malformed and fell back to their default.',
      registers: [registry],
    }),
  };
  for (const family of FAMILIES) m.signalsActive.set({ family }, 0);
  return m;
}
