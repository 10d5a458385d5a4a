import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** Every series this service exposes starts with it. */
export const METRIC_PREFIX = 'orch_watchdog_';

/** One registry per app instance (never prom-client's global), so two apps in a process never collide. */
export function createRegistry(configWarnings: readonly unknown[]): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  // prom-client names these gauges *_total, which promtool rejects; the per-type gauges without the suffix carry the same numbers
  for (const name of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`${METRIC_PREFIX}nodejs_active_${name}_total`);
  // how many configuration problems /healthz lists (a scrape sees a bad deploy); read live, the list grows after start
  new Gauge({
    name: `${METRIC_PREFIX}config_warnings`,
    help: 'Configuration problems listed in /healthz config_warnings: malformed values that fell back to their default, unknown keys, missing privileges.',
    registers: [registry],
    collect() {
      this.set(configWarnings.length);
    },
  });
  return registry;
}
