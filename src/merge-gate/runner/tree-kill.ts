import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import type { RunCgroup } from './cgroup.js';
import { TreeTracker, type TrackedProcess } from './proc-sweep.js';
import { ReceiptBook } from './receipt.js';
import { walkChildren } from './child-links.js';
import { identityKey, isSameProcess, type ProcIdentity } from '../../proc/identity.js';
import { isRunningState } from '../../proc/parse-stat.js';
import { readProcTable, type ProcTable } from '../../proc/proc-table.js';
import { watchdogGuard } from '../../proc/protected-pids.js';
import { readStat } from '../../proc/read-proc.js';
import { signalWithGrace, startSignalWithGrace, type GraceReceipt } from '../../proc/signal-with-grace.js';
import type { KillReceipt, KillStrategy } from '../types.js';

const TERM_POLL_MS = 20;
const KILL_POLL_MS = 5;
const FULL_SCAN_MS = 100;
/** SIGKILLed tasks die within ms; one stuck in D state may take long: past this it is reported, not waited for. */
const KILL_CONFIRM_MS = 10_000;
const HELPER_EXIT_WAIT_MS = 300;

/** Everything the killer knows about one run's tree. */
export interface TreeHandle {
  strategy: KillStrategy;
  /** The command, or the subreaper helper that forked it. */
  rootPid: number;
  /** The root is the subreaper helper: killed last, never with the tree. */
  rootIsHelper: boolean;
  /** True once Node has reaped the root: its pid may be reused, never signal it then. */
  isRootReaped: () => boolean;
  /** Resolves true when the root exits within `ms`. */
  waitRootExit: (ms: number) => Promise<boolean>;
  cgroup: RunCgroup | null;
  /** null for `single`. */
  tracker: TreeTracker | null;
  procRoot: string;
}

export interface KillReport {
  /** From the first signal to every member confirmed dead by /proc state (the helper's own exit not included). */
  killS: number;
  /** Members still running at the end (none is the target; any is in the receipt too). */
  survivors: TrackedProcess[];
  /** Distinct processes signalled. */
  signalledCount: number;
  receipt: KillReceipt;
}

/** Builds the tracker for a freshly spawned root. */
export function newTracker(rootPid: number, rootIsHelper: boolean, procRoot: string): TreeTracker {
  const tracker = new TreeTracker(rootPid, watchdogGuard(procRoot), rootIsHelper);
  // The root was spawned detached: it leads a new session and group, so their members are ours.
  if (!rootIsHelper) tracker.seedLeader();
  return tracker;
}

/** One kill in progress: the scans, the graces under way, and the book of what was signalled. */
class Sweep {
  readonly book = new ReceiptBook();
  private readonly graces: Promise<GraceReceipt>[] = [];
  private readonly inGrace = new Set<string>();
  private readonly members = new Map<number, TrackedProcess>();
  private readonly termedGroups = new Set<number>();
  readonly killedGroups = new Set<number>();
  fullScanMs = 0;
  lastTable: ProcTable = new Map();

  constructor(
    readonly handle: TreeHandle,
    readonly tracker: TreeTracker,
  ) {}

  /** Every member /proc shows: parent links, groups, sessions, the cgroup, every identity seen before. */
  fullScan(): TrackedProcess[] {
    const started = performance.now();
    this.lastTable = readProcTable(this.handle.procRoot);
    this.tracker.observe(this.lastTable, this.handle.cgroup?.pids() ?? []);
    this.fullScanMs = performance.now() - started;
    return this.remember(this.tracker.alive(this.lastTable));
  }

  /** The members' own stat files plus the cgroup's list: cheap enough for every poll. */
  quickScan(): TrackedProcess[] {
    return this.remember(this.tracker.aliveByReads(this.handle.cgroup?.pids() ?? [], this.handle.procRoot));
  }

  /** quickScan plus the kernel's child links below the root: the opening look when a cgroup or helper holds the tree. */
  linkScan(): TrackedProcess[] {
    const linked = walkChildren([this.handle.rootPid], this.handle.procRoot);
    return this.remember(this.tracker.aliveByReads([...(this.handle.cgroup?.pids() ?? []), ...linked], this.handle.procRoot));
  }

  private remember(live: TrackedProcess[]): TrackedProcess[] {
    for (const member of live) this.members.set(member.pid, member);
    return live;
  }

  /** Newcomers get the /proc library's SIGTERM -> grace -> SIGKILL, their grace ending with the run's. */
  async terminate(live: TrackedProcess[], graceEnd: number): Promise<void> {
    const fresh = live.filter((m) => !this.inGrace.has(identityKey(m)));
    for (const member of fresh) this.inGrace.add(identityKey(member));
    if (fresh.length > 0) {
      const graceMs = Math.max(0, graceEnd - performance.now());
      const started = await startSignalWithGrace(fresh, { graceMs, procRoot: this.handle.procRoot, pollMs: TERM_POLL_MS, killWaitMs: 0 });
      this.book.record(started.terminated, this.members);
      this.graces.push(started.done.then((receipt) => (this.book.record(receipt.processes, this.members), receipt)));
    }
    // Once per group: a member that traps TERM and spawns a successor must not get a stream of them.
    for (const pgid of this.tracker.groups) {
      if (this.termedGroups.has(pgid)) continue;
      this.termedGroups.add(pgid);
      this.book.signalGroup(pgid, 'SIGTERM');
    }
  }

  /** Waits for every grace under way to have sent its SIGKILLs. */
  async graceOver(): Promise<void> {
    await Promise.all(this.graces);
  }

  /** SIGKILL now: the whole cgroup at once, every member still itself, every group. */
  async kill(live: TrackedProcess[]): Promise<void> {
    if (this.handle.cgroup && live.length > 0) {
      for (const member of live) this.book.note(member, 'SIGKILL');
      this.handle.cgroup.kill();
    }
    if (live.length > 0) {
      const receipt = await signalWithGrace(live, { graceMs: 0, procRoot: this.handle.procRoot, killWaitMs: 0 });
      this.book.record(receipt.processes, this.members);
    }
    for (const pgid of this.tracker.groups) {
      this.book.signalGroup(pgid, 'SIGKILL');
      this.killedGroups.add(pgid);
    }
  }
}

/**
 * SIGTERM to the whole tree, poll /proc for the grace, SIGKILL whatever is left (always, even
 * when the leader already exited on SIGTERM: its children may not have), then confirm every
 * member dead by /proc state. Members are found through the cgroup's list, parent links,
 * groups and sessions, and every (pid, starttime) seen while the run lasted: a member that
 * moved itself out of the run cgroup and called setsid is still found. A full /proc scan
 * opens and ends the kill; polls in between re-read only the members' own stat files.
 */
export async function killTree(handle: TreeHandle, graceMs: number): Promise<KillReport> {
  const started = performance.now();
  if (handle.strategy === 'single' || !handle.tracker) return killSingle(handle, graceMs, started);
  const sweep = new Sweep(handle, handle.tracker);
  await termPhase(sweep, started + graceMs);
  const survivors = await killPhase(sweep, performance.now() + KILL_CONFIRM_MS);
  const killS = (performance.now() - started) / 1000;
  if (handle.rootIsHelper && !handle.isRootReaped()) {
    // The helper exits by itself once it has reaped the last orphan; SIGKILL only a stuck one.
    const exited = await handle.waitRootExit(HELPER_EXIT_WAIT_MS);
    if (!exited && !handle.isRootReaped() && handle.rootPid > 1) sweep.book.signalChild(handle.rootPid, 'SIGKILL');
  }
  return { killS, survivors, signalledCount: sweep.book.size, receipt: sweep.book.receipt(handle.strategy, survivors) };
}

async function termPhase(sweep: Sweep, graceEnd: number): Promise<void> {
  // A cgroup or a helper holds the tree (orphans stay below the helper): links suffice to start;
  // the closing full scan still sweeps groups, sessions and every identity seen.
  const held = sweep.handle.cgroup !== null || sweep.handle.rootIsHelper;
  let live = held ? sweep.linkScan() : sweep.fullScan();
  let lastFullScan = performance.now();
  await sweep.terminate(live, graceEnd);
  while (live.length > 0 && performance.now() < graceEnd) {
    await delay(Math.min(TERM_POLL_MS, Math.max(1, graceEnd - performance.now())));
    const now = performance.now();
    // Look again now and then for newcomers (a successor spawned on TERM), unless the scan would run past the grace.
    if (!held && now - lastFullScan >= FULL_SCAN_MS && graceEnd - now > 2 * sweep.fullScanMs) {
      live = sweep.fullScan();
      lastFullScan = performance.now();
    } else {
      live = held ? sweep.linkScan() : sweep.quickScan();
    }
    await sweep.terminate(live, graceEnd);
  }
  await sweep.graceOver();
}

/** SIGKILL until a full scan finds nobody; returns who is still running when time is up. */
async function killPhase(sweep: Sweep, killEnd: number): Promise<TrackedProcess[]> {
  let live = sweep.quickScan();
  let checkedByFullScan = false;
  for (;;) {
    await sweep.kill(live);
    live = sweep.quickScan();
    if (live.length === 0) {
      if (checkedByFullScan) return [];
      // The tree looks dead: one full look for anything forked or escaped since the last scan.
      live = sweep.fullScan();
      await sweep.kill(live);
      // Members of a group that already got SIGKILL are only still dying (a busy CPU delays
      // that): they cannot fork any more, so they need no further full scan, just the polls.
      checkedByFullScan = live.every((m) => sweep.killedGroups.has(sweep.lastTable.get(m.pid)?.pgrp ?? -1));
      if (live.length === 0) return [];
    }
    if (performance.now() >= killEnd) return live;
    await delay(KILL_POLL_MS);
  }
}

/** WATCHDOG_TREE_KILL_ENABLED=false: the old behaviour, the leader alone. */
async function killSingle(handle: TreeHandle, graceMs: number, started: number): Promise<KillReport> {
  const book = new ReceiptBook();
  const stat = handle.isRootReaped() ? null : readStat(handle.rootPid, handle.procRoot);
  const survivors: TrackedProcess[] = [];
  if (stat) {
    const leader: TrackedProcess = { pid: stat.pid, startTicks: stat.startTicks, comm: stat.comm };
    const receipt = await signalWithGrace([leader], {
      graceMs,
      procRoot: handle.procRoot,
      pollMs: TERM_POLL_MS,
      killWaitMs: KILL_CONFIRM_MS,
    });
    book.record(receipt.processes, new Map([[leader.pid, leader]]));
    if (!receipt.confirmedDead) survivors.push(leader);
  }
  return { killS: (performance.now() - started) / 1000, survivors, signalledCount: book.size, receipt: book.receipt('single', survivors) };
}

/**
 * The tree of a run whose watchdog died (its root now belongs to init): killed like a timeout,
 * found from its root's (pid, starttime). null when that process is gone (nothing to kill).
 */
export async function killOrphanTree(root: ProcIdentity, graceMs: number, procRoot = '/proc'): Promise<KillReport | null> {
  const isRoot = (): boolean => {
    const stat = readStat(root.pid, procRoot);
    return isSameProcess(stat, root) && isRunningState(stat.state);
  };
  if (!isRoot()) return null;
  const handle: TreeHandle = {
    strategy: 'proc-sweep',
    rootPid: root.pid,
    // The root (command or subreaper helper) was spawned detached: it leads the session and group the tree is in.
    rootIsHelper: false,
    isRootReaped: () => !isRoot(),
    waitRootExit: async () => !isRoot(),
    cgroup: null,
    tracker: newTracker(root.pid, false, procRoot),
    procRoot,
  };
  return killTree(handle, graceMs);
}

/** Live members right now, without signalling: leftovers after a normal exit. */
export function liveMembers(handle: TreeHandle): TrackedProcess[] {
  if (!handle.tracker) return [];
  const table = readProcTable(handle.procRoot);
  handle.tracker.observe(table, handle.cgroup?.pids() ?? []);
  return handle.tracker.alive(table);
}
