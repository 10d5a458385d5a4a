import type { GoneReason } from './texts.js';

/** What the tracker needs of an alert: its entity pid, the identity behind it, and whether it blocks. */
export interface TrackedUnit {
  pid: number;
  startTicks: number;
  isBlocking: boolean;
}

export interface TrackStep<T extends TrackedUnit> {
  /** blocking units whose signal is active this tick */
  active: T[];
  /** pids whose earlier active signal is emitted inactive this tick (one RECOVERY each) */
  gone: { pid: number; reason: GoneReason }[];
}

/**
 * Keeps the (pid, starttime) identity behind each active `proc_blocking:<pid>` signal. The
 * AlertState is keyed by pid alone, so when a pid is reused by a new blocking process the old
 * identity is emitted inactive first (its RECOVERY) and the new one only from the next tick
 * (a fresh ALERT) — a reused pid never inherits an alert.
 */
export class BlockingTracker {
  private activeStart = new Map<number, number>();

  /** pids with an active signal, so the caller can look up the ones that left the candidate list */
  activePids(): number[] {
    return [...this.activeStart.keys()];
  }

  step<T extends TrackedUnit>(units: readonly T[], startByPid: ReadonlyMap<number, number>): TrackStep<T> {
    const next = new Map<number, number>();
    const active: T[] = [];
    const gone: TrackStep<T>['gone'] = [];
    const handled = new Set<number>();
    for (const c of units) {
      if (!c.isBlocking) continue;
      const prevStart = this.activeStart.get(c.pid);
      if (prevStart !== undefined && prevStart !== c.startTicks) {
        gone.push({ pid: c.pid, reason: 'reused' });
        handled.add(c.pid);
        continue;
      }
      next.set(c.pid, c.startTicks);
      active.push(c);
      handled.add(c.pid);
    }
    for (const [pid, start] of this.activeStart) {
      if (handled.has(pid)) continue;
      const nowStart = startByPid.get(pid);
      // still there with the same identity but not blocking any more: its cmdline changed or its run ended
      const reason: GoneReason = nowStart === undefined ? 'exited' : nowStart === start ? 'not_matching' : 'reused';
      gone.push({ pid, reason });
    }
    this.activeStart = next;
    return { active, gone };
  }
}
