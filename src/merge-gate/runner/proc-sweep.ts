import { isSameProcess, type ProcIdentity } from '../../proc/identity.js';
import { isRunningState, type ProcStat } from '../../proc/parse-stat.js';
import { ProcTree, type ProcTable } from '../../proc/proc-table.js';
import { isSignallable, isSignallableGroup, type ProtectedPids } from '../../proc/protected-pids.js';
import { readStat } from '../../proc/read-proc.js';

/** A member as the receipt names it. */
export interface TrackedProcess extends ProcIdentity {
  comm: string;
}

/**
 * Remembers every process that ever belonged to one run's tree by (pid, starttime), plus the
 * process groups and sessions they led or joined. A member that double-forks is reparented to
 * init and leaves the parent links, but it stays in this memory (if it was seen once) and in
 * its group/session (unless it left both): that is what a bare killpg misses.
 */
export class TreeTracker {
  private readonly members = new Map<number, TrackedProcess>();
  readonly groups = new Set<number>();
  readonly sessions = new Set<number>();

  constructor(
    readonly rootPid: number,
    private readonly guard: ProtectedPids,
    /** The root is a helper (subreaper) that is killed last, not with the tree. */
    private readonly rootIsHelper = false,
  ) {}

  /** The root was spawned detached (setsid): whoever is in its session or group is ours. */
  seedLeader(): void {
    if (isSignallableGroup(this.rootPid, this.guard)) {
      this.groups.add(this.rootPid);
      this.sessions.add(this.rootPid);
    }
  }

  /** The command's own session and group (the subreaper helper setsid's it; its death leaves only these). */
  seedSession(pid: number): void {
    if (isSignallableGroup(pid, this.guard)) {
      this.groups.add(pid);
      this.sessions.add(pid);
    }
  }

  /**
   * Adds what `table` shows of the tree: the root's descendants, `extraPids` (e.g. a cgroup's
   * members), the descendants of every member still alive (a member that left the cgroup keeps
   * its parent link), and whoever shares a group or session a member ever had.
   */
  observe(table: ProcTable, extraPids: Iterable<number> = []): void {
    const root = table.get(this.rootPid);
    if (root && !this.rootIsHelper) this.add(root);
    for (const pid of extraPids) {
      const stat = table.get(pid);
      if (stat) this.add(stat);
    }
    const tree = new ProcTree(table);
    for (const rootPid of [this.rootPid, ...this.alive(table).map((m) => m.pid)]) {
      for (const stat of tree.descendants(rootPid)) this.add(stat);
    }
    for (const stat of table.values()) {
      if (this.members.get(stat.pid)?.startTicks === stat.startTicks) continue;
      if (this.groups.has(stat.pgrp) || this.sessions.has(stat.session)) this.add(stat);
    }
  }

  /**
   * The cheap poll: re-reads only the members' own stat files (plus `extraPids`, e.g. the
   * cgroup's list, adopted as members). A full table scan costs ~1 ms per 50 processes on a
   * busy host; this costs one read per member.
   */
  aliveByReads(extraPids: Iterable<number>, procRoot: string): TrackedProcess[] {
    const out: TrackedProcess[] = [];
    for (const pid of extraPids) {
      if (this.members.has(pid)) continue;
      const stat = readStat(pid, procRoot);
      if (stat) this.add(stat);
    }
    for (const member of this.members.values()) {
      const stat = readStat(member.pid, procRoot);
      if (isSameProcess(stat, member) && isRunningState(stat.state)) out.push(member);
    }
    return out;
  }

  private add(stat: ProcStat): void {
    if (!isSignallable(stat.pid, this.guard)) return;
    if (this.rootIsHelper && stat.pid === this.rootPid) return;
    const known = this.members.get(stat.pid);
    // A reused pid is another process: the newer one is the one that can still be signalled.
    if (known?.startTicks !== stat.startTicks) this.members.set(stat.pid, { pid: stat.pid, startTicks: stat.startTicks, comm: stat.comm });
    if (isSignallableGroup(stat.pgrp, this.guard) && !(this.rootIsHelper && stat.pgrp === this.rootPid)) {
      this.groups.add(stat.pgrp);
    }
    if (isSignallableGroup(stat.session, this.guard) && !(this.rootIsHelper && stat.session === this.rootPid)) {
      this.sessions.add(stat.session);
    }
  }

  /** Members still running in `table` (same starttime, not a zombie). */
  alive(table: ProcTable): TrackedProcess[] {
    const out: TrackedProcess[] = [];
    for (const member of this.members.values()) {
      const stat = table.get(member.pid);
      if (isSameProcess(stat, member) && isRunningState(stat.state)) out.push(member);
    }
    return out;
  }

  get size(): number {
    return this.members.size;
  }
}
