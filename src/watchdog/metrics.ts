import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { METRIC_PREFIX } from '../metrics.js';
import { FAMILIES } from './signal.js';

export type WatchdogMetrics = ReturnType<typeof createWatchdogMetrics>;

/** The tick's own series; `registry` defaults to a private one (the CLI tick exposes nothing). */
export function createWatchdogMetrics(registry = new Registry()) {
  const registers = [registry];
  const name = (n: string): string => `${METRIC_PREFIX}${n}`;
  const m = {
    tickDuration: new Histogram({
      name: name('tick_duration_seconds'),
      help: 'Duration of a watchdog tick (collect, decide, dispatch).',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    ticks: new Counter({ name: name('ticks_total'), help: 'Watchdog ticks finished.', registers }),
    lastTick: new Gauge({
      name: name('last_tick_timestamp_seconds'),
      help: 'Unix time the last tick finished; alert when it goes stale.',
      registers,
    }),
    collectorErrors: new Counter({
      name: name('collector_errors_total'),
      help: 'Collector runs that threw or timed out, by collector.',
      labelNames: ['collector'] as const,
      registers,
    }),
    signalsActive: new Gauge({
      name: name('signals_active'),
      help: 'Active signals of the last tick, by family.',
      labelNames: ['family'] as const,
      registers,
    }),
    alerts: new Counter({
      name: name('alerts_total'),
      help: 'Alert decisions dispatched to the notifiers, by family and action.',
      labelNames: ['family', 'action'] as const,
      registers,
    }),
  };
  for (const family of FAMILIES) m.signalsActive.set({ family }, 0);
  return m;
}
