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

  /** What the state file keeps (running and queued are counted again from the restored queue). */
  persisted(): Pick<MergeGateCounters, 'runsTotal' | 'infraRequeues' | 'infraExhausted' | 'outcomes'> {
    return {
      runsTotal: this.runsTotal,
      infraRequeues: this.infraRequeues,
      infraExhausted: this.infraExhausted,
      outcomes: { ...this.outcomes },
    };
  }

  restore(saved: { runsTotal: number; infraRequeues: number; infraExhausted: number; outcomes: Partial<OutcomeCounts> }): void {
    this.runsTotal = saved.runsTotal;
    this.infraRequeues = saved.infraRequeues;
    this.infraExhausted = saved.infraExhausted;
    Object.assign(this.outcomes, saved.outcomes);
  }

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
