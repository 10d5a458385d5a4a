import type { MergeDecision, Outcome } from './types.js';

export interface DecisionPolicy {
  retryMax: number;
  /** WATCHDOG_MERGE_INFRA_REQUEUE=false: every failure rolls back, infra or not. */
  infraRequeue: boolean;
}

export const isInfraOutcome = (outcome: Outcome): boolean => outcome === 'timeout' || outcome === 'lock_busy' || outcome === 'infra';

/**
 * docs/merge-gate.md: pass/skipped merge, red/other roll back, timeout/lock_busy/infra re-queue
 * while fewer than `retryMax` infra re-queues happened for the branch, then `exhausted`. A
 * cancelled run has no decision: whoever cancelled it decides.
 */
export function mergeDecision(outcome: Outcome, infraRequeuesSoFar: number, policy: DecisionPolicy): MergeDecision | null {
  if (outcome === 'pass' || outcome === 'skipped') return 'merge';
  if (outcome === 'cancelled') return null;
  if (!isInfraOutcome(outcome) || !policy.infraRequeue) return 'rollback';
  return infraRequeuesSoFar < policy.retryMax ? 'requeue' : 'exhausted';
}

/** How long an infra re-queue waits after attempt `attempt` failed: delay × 2^(attempt−1). */
export function requeueDelayMs(attempt: number, requeueDelayS: number): number {
  return requeueDelayS * 1000 * 2 ** Math.max(0, attempt - 1);
}

/** Infra re-queue counts per (repo, branch): reset by a pass or a red, and by exhaustion. */
export class InfraRequeueLedger {
  private readonly counts = new Map<string, number>();

  constructor(private readonly policy: DecisionPolicy) {}

  private static key(repo: string, branch: string): string {
    return JSON.stringify([repo, branch]);
  }

  count(repo: string, branch: string): number {
    return this.counts.get(InfraRequeueLedger.key(repo, branch)) ?? 0;
  }

  /** [repo, branch, count] for the state file. */
  entries(): [string, string, number][] {
    return [...this.counts].map(([key, n]) => {
      const [repo, branch] = JSON.parse(key) as [string, string];
      return [repo, branch, n];
    });
  }

  restore(entries: readonly [string, string, number][]): void {
    for (const [repo, branch, n] of entries) this.counts.set(InfraRequeueLedger.key(repo, branch), n);
  }

  /** Decides for one finished attempt and updates the count. */
  record(repo: string, branch: string, outcome: Outcome): MergeDecision | null {
    const key = InfraRequeueLedger.key(repo, branch);
    const sofar = this.counts.get(key) ?? 0;
    const decision = mergeDecision(outcome, sofar, this.policy);
    if (outcome === 'pass' || outcome === 'red') this.counts.delete(key);
    else if (decision === 'requeue') this.counts.set(key, sofar + 1);
    // The exhausted chain is over: a fresh request for the branch starts with fresh retries.
    else if (decision === 'exhausted') this.counts.delete(key);
    return decision;
  }
}
