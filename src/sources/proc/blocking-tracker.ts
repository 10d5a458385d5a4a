import type { Candidate } from './candidates.js';
import type { GoneReason } from './texts.js';

export interface TrackStep {
  /** blocking processes whose signal is active this tick */
  active: Candidate[];
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

  step(candidates: readonly Candidate[], startByPid: ReadonlyMap<number, number>): TrackStep {
    const next = new Map<number, number>();
    const active: Candidate[] = [];
    const gone: TrackStep['gone'] = [];
    const handled = new Set<number>();
    for (const c of candidates) {
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
      // still there with the same identity but not a candidate any more: its cmdline changed
      const reason: GoneReason = nowStart === undefined ? 'exited' : nowStart === start ? 'not_matching' : 'reused';
      gone.push({ pid, reason });
    }
    this.activeStart = next;
    return { active, gone };
  }
}
