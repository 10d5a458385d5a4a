import { readStat, type ProcIdentity } from '../../proc/proc-table.js';
import type { KillReceipt, KillStrategy, SignalledProcess } from '../types.js';
import type { TrackedProcess } from './proc-sweep.js';

const key = (id: ProcIdentity): string => `${id.pid}:${id.startTicks}`;

function send(target: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(target, signal);
    return true;
  } catch {
    // ESRCH: already gone
    return false;
  }
}

/** Every process a kill signalled, with its strongest signal and when: the run's kill receipt. */
export class ReceiptBook {
  private readonly entries = new Map<string, SignalledProcess>();

  has(member: ProcIdentity): boolean {
    return this.entries.has(key(member));
  }

  get size(): number {
    return this.entries.size;
  }

  /** Records that `member` got `signal` by other means (cgroup.kill, a group signal). */
  note(member: TrackedProcess, signal: NodeJS.Signals): void {
    const known = this.entries.get(key(member));
    if (known?.signal === signal) return;
    this.entries.set(key(member), { pid: member.pid, comm: member.comm, signal, atMs: Date.now() });
  }

  signal(member: TrackedProcess, signal: NodeJS.Signals): void {
    if (send(member.pid, signal)) this.note(member, signal);
  }

  /** killpg: its members are recorded one by one by the scans, the group itself is not a process. */
  signalGroup(pgid: number, signal: NodeJS.Signals): void {
    send(-pgid, signal);
  }

  /** A pid with no tracked identity (the leader alone, a stuck helper): read its comm now. */
  signalPid(pid: number, signal: NodeJS.Signals): void {
    const stat = readStat(pid);
    if (!stat) return;
    this.signal({ pid, startTicks: stat.startTicks, comm: stat.comm }, signal);
  }

  receipt(strategy: KillStrategy, survivors: TrackedProcess[]): KillReceipt {
    const alive = new Set(survivors.map(key));
    const processes = [...this.entries.values()].sort((a, b) => a.atMs - b.atMs || a.pid - b.pid);
    const confirmedDead = [...this.entries.keys()].filter((k) => !alive.has(k)).length;
    return { strategy, processes, confirmedDead, survivors: survivors.map((s) => ({ pid: s.pid, comm: s.comm })) };
  }
}
