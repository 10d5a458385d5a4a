import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { METRIC_PREFIX } from '../metrics.js';
import { FAMILIES } from './signal.js';

export interface WatchdogMetrics {
  tickDuration: Histogram;
  ticks: Counter;
  lastTick: Gauge;
  collectorErrors: Counter<'collector'>;
  signalsActive: Gauge<'family'>;
  alerts: Counter<'family' | 'action'>;
}

/** The tick's own series; `registry` defaults to a private one (the CLI tick exposes nothing). */
export function createWatchdogMetrics(registry = new Registry()): WatchdogMetrics {
  const registers = [registry];
  const m: WatchdogMetrics = {
    tickDuration: new Histogram({
      name: `${METRIC_PREFIX}tick_duration_seconds`,
      help: 'Duration of a watchdog tick (collect, decide, dispatch).',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    ticks: new Counter({ name: `${METRIC_PREFIX}ticks_total`, help: 'Watchdog ticks finished.', registers }),
    lastTick: new Gauge({
      name: `${METRIC_PREFIX}last_tick_timestamp_seconds`,
      help: 'Unix time the last tick finished; alert when it goes stale.',
      registers,
    }),
    collectorErrors: new Counter({
      name: `${METRIC_PREFIX}collector_errors_total`,
      help: 'Collector runs that threw or timed out, by collector.',
      labelNames: ['collector'],
      registers,
    }),
    signalsActive: new Gauge({
      name: `${METRIC_PREFIX}signals_active`,
      help: 'Active signals of the last tick, by family.',
      labelNames: ['family'],
      registers,
    }),
    alerts: new Counter({
      name: `${METRIC_PREFIX}alerts_total`,
      help: 'Alert decisions dispatched to the notifiers, by family and action.',
      labelNames: ['family', 'action'],
      registers,
    }),
  };
  for (const family of FAMILIES) m.signalsActive.set({ family }, 0);
  return m;
}
