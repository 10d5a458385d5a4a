import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../metrics.js';
import { OUTCOMES, type MergeGateCounters, type Outcome, type OutcomeCounts } from './types.js';

/** The running totals behind GET /queue; the state file keeps them (running and queued are counted again). */
export type GateTotals = Omit<MergeGateCounters, 'running' | 'queued'>;

export const zeroTotals = (): GateTotals => ({
  runsTotal: 0,
  infraRequeues: 0,
  infraExhausted: 0,
  outcomes: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as OutcomeCounts,
});

export interface MergeGateMetrics {
  finished(outcome: Outcome, durationS: number): void;
  requeued(): void;
  exhausted(): void;
}

/** The merge gate's series on the app's registry; gauges are read from the gate at scrape time. */
export function createMergeGateMetrics(registry: Registry, counters: () => MergeGateCounters): MergeGateMetrics {
  const runs = new Counter({
    name: `${METRIC_PREFIX}merge_gate_runs_total`,
    help: 'Merge-gate re-test attempts finished, by outcome.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  for (const outcome of OUTCOMES) runs.inc({ outcome }, 0);
  new Gauge({
    name: `${METRIC_PREFIX}merge_gate_running`,
    help: 'Merge-gate re-tests running now.',
    registers: [registry],
    collect() {
      this.set(counters().running);
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}merge_gate_queued`,
    help: 'Merge-gate re-tests waiting to run.',
    registers: [registry],
    collect() {
      this.set(counters().queued);
    },
  });
  const requeues = new Counter({
    name: `${METRIC_PREFIX}merge_gate_infra_requeues_total`,
    help: 'Re-tests re-queued because of an infra outcome (timeout, lock_busy).',
    registers: [registry],
  });
  const exhausted = new Counter({
    name: `${METRIC_PREFIX}merge_gate_infra_exhausted_total`,
    help: 'Branches whose infra re-queues ran out (each raised one merge_gate_exhausted alert).',
    registers: [registry],
  });
  const duration = new Histogram({
    name: `${METRIC_PREFIX}merge_gate_duration_seconds`,
    help: 'Wall time of a re-test attempt, including the tree kill on timeout.',
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
    registers: [registry],
  });
  return {
    finished(outcome, durationS) {
      runs.inc({ outcome });
      duration.observe(durationS);
    },
    requeued: () => requeues.inc(),
    exhausted: () => exhausted.inc(),
  };
}
