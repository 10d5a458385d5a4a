import { readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { RunCgroup } from './cgroup.js';
import { readText } from './spawn.js';
import { isRunningState, isSameProcess, type ProcIdentity, type ProcStat } from '../proc/parse-stat.js';
import { ProcTree, readProcTable, type ProcTable } from '../proc/proc-table.js';
import { isSignallable, isSignallableGroup, watchdogGuard, type ProtectedPids } from '../proc/protected-pids.js';
import { readStat } from '../proc/read-proc.js';

/** How the tree is killed, best first; `single` = the leader only (WATCHDOG_TREE_KILL_ENABLED=false). */
export const KILL_STRATEGIES = ['cgroup', 'subreaper', 'proc-sweep', 'single'] as const;
export type KillStrategy = (typeof KILL_STRATEGIES)[number];

/** A member as the receipt names it. */
export type TrackedProcess = ProcIdentity & { comm: string };

/** Tracking reads child links and the cgroup list every 100 ms, the whole table (no cgroup) every 1 s at most... */
const TRACK_INTERVAL_MS = 100;
const FULL_SCAN_INTERVAL_MS = 1_000;
/** ...and never more than ~1/10 of a core: CPU starvation is what the merge gate exists to avoid. */
const TRACK_COST_FACTOR = 10;
const MAX_WALK = 100_000;

/** Every process that ever was in one run's tree, by (pid, starttime), and their groups and sessions: double forks escape links, not this. */
export class TreeTracker {
  private readonly members = new Map<number, TrackedProcess>();
  readonly groups = new Set<number>();
  readonly sessions = new Set<number>();

  constructor(
    readonly rootPid: number,
    private readonly guard: ProtectedPids,
    /** The root is the subreaper helper, killed last, not with the tree. */
    private readonly rootIsHelper = false,
  ) {}

  /** `pid` leads a session and group of its own (spawned detached, or setsid'd by the helper): whoever is in them is ours. */
  seedSession(pid = this.rootPid): void {
    if (isSignallableGroup(pid, this.guard)) {
      this.groups.add(pid);
      this.sessions.add(pid);
    }
  }

  /** Adds the root's and every live member's descendants, `extraPids` (a cgroup's), and whoever shares a member's group or session. */
  observe(table: ProcTable, extraPids: Iterable<number> = []): void {
    for (const pid of [this.rootPid, ...extraPids]) {
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

  /** The cheap poll: one stat read per member (and per new pid of `extraPids`), not a full table scan. */
  aliveByReads(extraPids: Iterable<number>): TrackedProcess[] {
    for (const pid of extraPids) {
      if (this.members.has(pid)) continue;
      const stat = readStat(pid);
      if (stat) this.add(stat);
    }
    return [...this.members.values()].filter((member) => isLive(readStat(member.pid), member));
  }

  /** Members still running in `table` (same starttime, not a zombie). */
  alive(table: ProcTable): TrackedProcess[] {
    return [...this.members.values()].filter((member) => isLive(table.get(member.pid), member));
  }

  private add(stat: ProcStat): void {
    if (!isSignallable(stat.pid, this.guard)) return;
    if (this.rootIsHelper && stat.pid === this.rootPid) return;
    const known = this.members.get(stat.pid);
    // A reused pid is another process: the newer one is the one that can still be signalled.
    if (known?.startTicks !== stat.startTicks) this.members.set(stat.pid, { pid: stat.pid, startTicks: stat.startTicks, comm: stat.comm });
    // The helper's own group and session are never the tree's: it is killed last, alone.
    const isOurs = (id: number): boolean => isSignallableGroup(id, this.guard) && !(this.rootIsHelper && id === this.rootPid);
    if (isOurs(stat.pgrp)) this.groups.add(stat.pgrp);
    if (isOurs(stat.session)) this.sessions.add(stat.session);
  }
}

const isLive = (stat: ProcStat | null | undefined, member: TrackedProcess): boolean =>
  isSameProcess(stat, member) && isRunningState(stat.state);

/** Everything the killer knows about one run's tree; the root is the command, or the subreaper helper (killed last, alone). */
export interface TreeHandle {
  strategy: KillStrategy;
  rootPid: number;
  rootIsHelper: boolean;
  /** True once Node has reaped the root: its pid may be reused, never signal it then. */
  isRootReaped: () => boolean;
  waitRootExit: (ms: number) => Promise<boolean>;
  cgroup: RunCgroup | null;
  tracker: TreeTracker | null;
}

/** The tracker of a freshly spawned root. */
export function newTracker(rootPid: number, rootIsHelper: boolean): TreeTracker {
  const tracker = new TreeTracker(rootPid, watchdogGuard(), rootIsHelper);
  // The root was spawned detached: it leads a new session and group, so their members are ours.
  if (!rootIsHelper) tracker.seedSession();
  return tracker;
}

/** The tree below `roots` by the kernel's own child lists (/proc/<pid>/task/<tid>/children): one read per member. */
function walkChildren(roots: Iterable<number>): number[] {
  const found: number[] = [];
  const seen = new Set<number>();
  const stack = [...roots];
  while (stack.length > 0 && found.length < MAX_WALK) {
    const pid = stack.pop()!;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      // null: the task exited meanwhile
      const text = readText(`/proc/${pid}/task/${tid}/children`) ?? '';
      for (const child of text.split(' ').map(Number)) {
        if (!Number.isInteger(child) || child <= 1 || seen.has(child)) continue;
        seen.add(child);
        found.push(child);
        stack.push(child);
      }
    }
  }
  return found;
}

/** The members /proc shows now: the cgroup's list and the child links below the root, each read by its stat file. */
export function linkedMembers(handle: TreeHandle, tracker: TreeTracker): TrackedProcess[] {
  return tracker.aliveByReads([...(handle.cgroup?.pids() ?? []), ...walkChildren([handle.rootPid])]);
}

/** Records the tree while the command runs, so a member that later leaves every link is still known at the kill; returns the stop. */
export function trackWhileRunning(handle: TreeHandle): () => void {
  const tracker = handle.tracker;
  if (!tracker || handle.strategy === 'single') return () => undefined;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let nextFullScan = 0;
  const track = (): void => {
    const started = performance.now();
    linkedMembers(handle, tracker);
    const costMs = performance.now() - started;
    if (!handle.cgroup && started >= nextFullScan) {
      const scanStart = performance.now();
      tracker.observe(readProcTable());
      nextFullScan = performance.now() + Math.max(FULL_SCAN_INTERVAL_MS, (performance.now() - scanStart) * TRACK_COST_FACTOR);
    }
    if (stopped) return;
    timer = setTimeout(track, Math.max(TRACK_INTERVAL_MS, costMs * TRACK_COST_FACTOR));
    timer.unref();
  };
  track();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

/** Live members right now, without signalling: leftovers after a normal exit. */
export function liveMembers(handle: TreeHandle): TrackedProcess[] {
  if (!handle.tracker) return [];
  const table = readProcTable();
  handle.tracker.observe(table, handle.cgroup?.pids() ?? []);
  return handle.tracker.alive(table);
}
