import { Gauge, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../../metrics.js';

export interface DepMetrics {
  up: Gauge<'dep'>;
  latency: Histogram<'dep'>;
}

/** Labelled by the dependency's configured name, never its URL (URLs may carry secrets and vary). */
export function createDepMetrics(registry: Registry): DepMetrics {
  return {
    up: new Gauge({
      name: `${METRIC_PREFIX}dep_up`,
      help: 'Whether the last ping of the dependency answered 2xx/3xx (1) or not (0), by dependency name.',
      labelNames: ['dep'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: `${METRIC_PREFIX}dep_latency_seconds`,
      help: 'Time to the response headers of a dependency ping (failed pings included), by dependency name.',
      labelNames: ['dep'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}
