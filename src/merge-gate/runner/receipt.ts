import { identityKey, type ProcIdentity } from '../../proc/identity.js';
import { readStat } from '../../proc/read-proc.js';
import type { SignalledProcess as SentSignal } from '../../proc/signal-with-grace.js';
import type { KillReceipt, KillStrategy, SignalledProcess } from '../types.js';
import type { TrackedProcess } from './proc-sweep.js';

const STRENGTH: Record<string, number> = { SIGTERM: 1, SIGKILL: 2 };

/** Every process a kill signalled, with its strongest signal and when: the run's kill receipt. */
export class ReceiptBook {
  private readonly entries = new Map<string, SignalledProcess>();

  get size(): number {
    return this.entries.size;
  }

  /** Records `signal` to `member`, sent here or by other means (cgroup.kill), unless a stronger one is on record. */
  note(member: TrackedProcess, signal: string, atMs = Date.now()): void {
    const key = identityKey(member);
    const known = this.entries.get(key);
    if (known && (STRENGTH[known.signal] ?? 0) >= (STRENGTH[signal] ?? 0)) return;
    this.entries.set(key, { pid: member.pid, comm: member.comm, signal, atMs });
  }

  /** What the /proc library's signal-with-grace reports it sent. */
  record(sent: readonly SentSignal[], members: ReadonlyMap<number, TrackedProcess>): void {
    for (const s of sent) {
      const member = members.get(s.pid);
      if (member) this.note({ ...member, comm: s.comm }, s.signal, s.at);
    }
  }

  /** killpg: its members are recorded one by one by the scans; the group itself is not a process. */
  signalGroup(pgid: number, signal: NodeJS.Signals): void {
    try {
      process.kill(-pgid, signal);
    } catch {
      // ESRCH: the group is empty
    }
  }

  /** Our own unreaped child (the helper): its pid cannot have been reused. */
  signalChild(pid: number, signal: NodeJS.Signals): void {
    const stat = readStat(pid);
    if (!stat) return;
    try {
      process.kill(pid, signal);
      this.note({ pid, startTicks: stat.startTicks, comm: stat.comm }, signal);
    } catch {
      // exited meanwhile
    }
  }

  receipt(strategy: KillStrategy, survivors: readonly ProcIdentity[]): KillReceipt {
    const alive = new Set(survivors.map(identityKey));
    const processes = [...this.entries.values()].sort((a, b) => a.atMs - b.atMs || a.pid - b.pid);
    const confirmedDead = [...this.entries.keys()].filter((k) => !alive.has(k)).length;
    const comms = new Map(processes.map((p) => [p.pid, p.comm]));
    return {
      strategy,
      processes,
      confirmedDead,
      survivors: survivors.map((s) => ({ pid: s.pid, comm: comms.get(s.pid) ?? (s as TrackedProcess).comm ?? '' })),
    };
  }
}
