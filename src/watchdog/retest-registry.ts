import { identityKey, type ProcIdentity } from '../proc/parse-stat.js';

/** A merge-gate re-test process the watchdog itself runs, registered by the gate; its own timeout ends at `deadlineMs`. */
export interface RetestProcess extends ProcIdentity {
  id: string;
  deadlineMs: number;
}

/** Re-tests in flight by their root's (pid, starttime): the /proc scan never calls one blocking nor signals it inside its own timeout. */
export class RetestRegistry {
  private readonly byKey = new Map<string, RetestProcess>();

  /** The gate's hook; returns the matching unregister. */
  register(pid: number, startTicks: number, id: string, deadlineMs: number): () => void {
    const key = identityKey({ pid, startTicks });
    this.byKey.set(key, { pid, startTicks, id, deadlineMs });
    return () => this.byKey.delete(key);
  }

  /** The running re-test, inside its timeout, whose root is one of `lineage` (a process and its ancestors). */
  holding(lineage: Iterable<ProcIdentity>, nowMs: number): RetestProcess | undefined {
    for (const p of lineage) {
      const r = this.byKey.get(identityKey(p));
      if (r && nowMs < r.deadlineMs) return r;
    }
    return undefined;
  }

  list(): RetestProcess[] {
    return [...this.byKey.values()];
  }
}
