import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../../metrics.js';
import type { ReadErrorKind } from './scan-reads.js';

export interface ProcMetrics {
  candidates: Gauge;
  blocking: Gauge;
  oldestAge: Gauge;
  scanDuration: Histogram;
  readErrors: Counter<'kind'>;
  reaped: Counter<'trigger'>;
}

const READ_ERROR_KINDS: ReadErrorKind[] = ['eacces', 'parse', 'other'];

/** The /proc scan's metrics, registered on the app's own registry. */
export function createProcMetrics(registry: Registry): ProcMetrics {
  const registers = [registry];
  const m: ProcMetrics = {
    candidates: new Gauge({
      name: `${METRIC_PREFIX}proc_candidates`,
      help: 'Candidates at the last scan: processes whose program (WATCHDOG_PROC_MATCH) matches WATCHDOG_PROC_PATTERNS, and leftovers of their runs.',
      registers,
    }),
    blocking: new Gauge({
      name: `${METRIC_PREFIX}proc_blocking`,
      help: 'Matching processes older than WATCHDOG_PROC_AGE_MIN, at the last scan.',
      registers,
    }),
    oldestAge: new Gauge({
      name: `${METRIC_PREFIX}proc_oldest_age_seconds`,
      help: 'Age of the oldest matching process at the last scan (0 when none).',
      registers,
    }),
    scanDuration: new Histogram({
      name: `${METRIC_PREFIX}proc_scan_duration_seconds`,
      help: 'Duration of one /proc scan.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    readErrors: new Counter({
      name: `${METRIC_PREFIX}proc_read_errors_total`,
      help: 'Per-process /proc reads that failed, by kind (eacces, parse, other); vanished processes are not errors.',
      labelNames: ['kind'],
      registers,
    }),
    reaped: new Counter({
      name: `${METRIC_PREFIX}proc_reaped_total`,
      help: 'Matching processes terminated, by trigger (reaper or api).',
      labelNames: ['trigger'],
      registers,
    }),
  };
  for (const kind of READ_ERROR_KINDS) m.readErrors.inc({ kind }, 0);
  for (const trigger of ['reaper', 'api']) m.reaped.inc({ trigger }, 0);
  return m;
}
