import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../../metrics.js';

export type ProcMetrics = ReturnType<typeof createProcMetrics>;

/** The /proc scan's metrics, registered on the app's own registry. */
export function createProcMetrics(registry: Registry) {
  const registers = [registry];
  const gauge = (name: string, help: string): Gauge => new Gauge({ name: `${METRIC_PREFIX}${name}`, help, registers });
  const counter = <L extends string>(name: string, help: string, label: L): Counter<L> =>
    new Counter<L>({ name: `${METRIC_PREFIX}${name}`, help, labelNames: [label], registers });
  const m = {
    candidates: gauge(
      'proc_candidates',
      'Candidates at the last scan: processes whose program (WATCHDOG_PROC_MATCH) matches WATCHDOG_PROC_PATTERNS, and leftovers of their runs.',
    ),
    blocking: gauge('proc_blocking', 'Matching processes older than WATCHDOG_PROC_AGE_MIN, at the last scan.'),
    oldestAge: gauge('proc_oldest_age_seconds', 'Age of the oldest matching process at the last scan (0 when none).'),
    scanDuration: new Histogram({
      name: `${METRIC_PREFIX}proc_scan_duration_seconds`,
      help: 'Duration of one /proc scan.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    readErrors: counter(
      'proc_read_errors_total',
      'Per-process /proc reads that failed, by kind (eacces, parse, other); vanished processes are not errors.',
      'kind',
    ),
    reaped: counter('proc_reaped_total', 'Matching processes terminated, by trigger (reaper or api).', 'trigger'),
  };
  for (const kind of ['eacces', 'parse', 'other']) m.readErrors.inc({ kind }, 0);
  for (const trigger of ['reaper', 'api']) m.reaped.inc({ trigger }, 0);
  return m;
}
