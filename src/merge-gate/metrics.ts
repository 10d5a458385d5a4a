import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../metrics.js';
import { OUTCOMES, type Outcome } from './types.js';

/** The running totals behind GET /queue; the state file keeps them (running and queued are counted again). */
export const zeroTotals = () => ({
  runsTotal: 0,
  infraRequeues: 0,
  infraExhausted: 0,
  outcomes: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>,
});

export type MergeGateMetrics = ReturnType<typeof createMergeGateMetrics>;

/** The merge gate's series on the app's registry; gauges are read from the gate at scrape time. */
export function createMergeGateMetrics(registry: Registry, counters: () => Record<'running' | 'queued', number>) {
  const name = (n: string) => ({ name: `${METRIC_PREFIX}merge_gate_${n}`, registers: [registry] });
  const runs = new Counter({ ...name('runs_total'), help: 'Merge-gate re-test attempts finished, by outcome.', labelNames: ['outcome'] });
  for (const outcome of OUTCOMES) runs.inc({ outcome }, 0);
  for (const [key, help] of [
    ['running', 'Merge-gate re-tests running now.'],
    ['queued', 'Merge-gate re-tests waiting to run.'],
  ] as const) {
    new Gauge({
      ...name(key),
      help,
      collect() {
        this.set(counters()[key]);
      },
    });
  }
  const requeues = new Counter({
    ...name('infra_requeues_total'),
    help: 'Re-tests re-queued because of an infra outcome (timeout, lock_busy).',
  });
  const exhausted = new Counter({
    ...name('infra_exhausted_total'),
    help: 'Branches whose infra re-queues ran out (each raised one merge_gate_exhausted alert).',
  });
  const duration = new Histogram({
    ...name('duration_seconds'),
    help: 'Wall time of a re-test attempt, including the tree kill on timeout.',
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
  });
  return {
    finished(outcome: Outcome, durationS: number) {
      runs.inc({ outcome });
      duration.observe(durationS);
    },
    requeued: () => requeues.inc(),
    exhausted: () => exhausted.inc(),
  };
}
