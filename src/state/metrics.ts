import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../metrics.js';

export interface StateMetrics {
  saved(atMs: number): void;
  failed(): void;
}

/** WATCHDOG_STATE_FILE's series: a save that fails, and since when the file is behind. */
export function createStateMetrics(registry: Registry, isOk: () => boolean): StateMetrics {
  const failures = new Counter({
    name: `${METRIC_PREFIX}state_save_failures_total`,
    help: 'Writes of WATCHDOG_STATE_FILE that failed (a full disk, a read-only mount); the next save retries.',
    registers: [registry],
  });
  const lastSaved = new Gauge({
    name: `${METRIC_PREFIX}state_last_saved_timestamp_seconds`,
    help: 'Unix time WATCHDOG_STATE_FILE last held the current state (written, or found unchanged); 0 before the first save.',
    registers: [registry],
  });
  new Gauge({
    name: `${METRIC_PREFIX}state_ok`,
    help: '1 when WATCHDOG_STATE_FILE is in use and its last save succeeded; 0 when it was refused or a save failed.',
    registers: [registry],
    collect() {
      this.set(isOk() ? 1 : 0);
    },
  });
  return {
    saved: (atMs) => lastSaved.set(atMs / 1000),
    failed: () => failures.inc(),
  };
}
