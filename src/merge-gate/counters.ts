import { OUTCOMES, type MergeGateCounters, type OutcomeCounts } from './types.js';

export function zeroOutcomes(): OutcomeCounts {
  return Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as OutcomeCounts;
}

/** The running totals behind GET /queue (MergeGateCounters in docs/api.md). */
export class GateCounters {
  runsTotal = 0;
  infraRequeues = 0;
  infraExhausted = 0;
  readonly outcomes = zeroOutcomes();

  snapshot(running: number, queued: number): MergeGateCounters {
    return {
      runsTotal: this.runsTotal,
      running,
      queued,
      outcomes: { ...this.outcomes },
      infraRequeues: this.infraRequeues,
      infraExhausted: this.infraExhausted,
    };
  }
}
