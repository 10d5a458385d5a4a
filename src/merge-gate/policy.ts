import type { Decision, Outcome } from './types.js';

/**
 * docs/behaviour.md, "Merge gate": pass/skipped merge, red/other roll back, timeout/lock_busy re-queue while
 * fewer than `retryMax` infra re-queues happened for the branch, then `exhausted`.
 */
export function decide(outcome: Outcome, infraRequeuesSoFar: number, retryMax: number): Decision {
  switch (outcome) {
    case 'pass':
    case 'skipped':
      return 'merge';
    case 'red':
    case 'other':
      return 'rollback';
    case 'timeout':
    case 'lock_busy':
      return infraRequeuesSoFar < retryMax ? 'requeue' : 'exhausted';
  }
}

export const isInfraOutcome = (outcome: Outcome): boolean => outcome === 'timeout' || outcome === 'lock_busy';

/** Infra re-queue counts per (repo, branch): reset by a pass or a red, and by exhaustion. */
export class InfraRequeueLedger {
  private readonly counts = new Map<string, number>();

  constructor(private readonly retryMax: number) {}

  private static key(repo: string, branch: string): string {
    return JSON.stringify([repo, branch]);
  }

  count(repo: string, branch: string): number {
    return this.counts.get(InfraRequeueLedger.key(repo, branch)) ?? 0;
  }

  /** Decides for one finished attempt and updates the count. */
  record(repo: string, branch: string, outcome: Outcome): Decision {
    const key = InfraRequeueLedger.key(repo, branch);
    const sofar = this.counts.get(key) ?? 0;
    const decision = decide(outcome, sofar, this.retryMax);
    if (outcome === 'pass' || outcome === 'red') this.counts.delete(key);
    else if (decision === 'requeue') this.counts.set(key, sofar + 1);
    // The exhausted chain is over: a fresh request for the branch starts with fresh retries.
    else if (decision === 'exhausted') this.counts.delete(key);
    return decision;
  }
}
