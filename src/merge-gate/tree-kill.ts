import { performance } from 'node:perf_hooks';
import type { RunCgroup } from './cgroup.js';
import { protectedIds, TreeTracker } from './proc-sweep.js';
import { readProcTable, type ProcIdentity, type ProcTable } from '../proc/proc-table.js';
import type { KillStrategy } from './types.js';

const TERM_POLL_MS = 20;
const KILL_POLL_MS = 5;
const FULL_SCAN_MS = 100;
/** After SIGKILL the kernel needs a moment; past this the run reports survivors instead of hanging. */
const KILL_CONFIRM_MS = 3_000;
const HELPER_EXIT_WAIT_MS = 300;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Everything the killer knows about one run's tree. */
export interface TreeHandle {
  strategy: KillStrategy;
  /** The command (cgroup, proc-sweep, single) or the subreaper helper. */
  rootPid: number;
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
  /** Members still running at the end (0 is the target). */
  survivors: ProcIdentity[];
  /** Distinct processes signalled. */
  signalledCount: number;
}

function send(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: already gone
  }
}

/** Builds the tracker for a freshly spawned root. */
export function newTracker(rootPid: number, rootIsHelper: boolean, procRoot: string): TreeTracker {
  const tracker = new TreeTracker(rootPid, protectedIds(readProcTable(procRoot), process.pid), rootIsHelper);
  // The root was spawned detached: it leads a new session and group, so their members are ours.
  if (!rootIsHelper) tracker.seedLeader();
  return tracker;
}

/**
 * SIGTERM to the whole tree, poll /proc for the grace, SIGKILL whatever is left (always, even
 * when the leader already exited on SIGTERM: its children may not have), then confirm every
 * member dead by /proc state. Members are found three ways: the cgroup's member list, the
 * parent links under the root, and the groups/sessions a member ever belonged to. Full /proc
 * scans are few (start, every FULL_SCAN_MS without a cgroup, one final check) because on a
 * host with thousands of processes each costs tens of ms; polls in between re-read only the
 * members' own stat files.
 */
export async function killTree(handle: TreeHandle, graceMs: number): Promise<KillReport> {
  const started = performance.now();
  if (handle.strategy === 'single' || !handle.tracker) return killSingle(handle, graceMs, started);
  const tracker = handle.tracker;
  const termed = new Set<string>();
  const termedGroups = new Set<number>();

  let fullScanMs = 0;
  let lastTable: ProcTable = new Map();
  const fullScan = (): ProcIdentity[] => {
    const scanStart = performance.now();
    lastTable = readProcTable(handle.procRoot);
    tracker.observe(lastTable, handle.cgroup?.pids() ?? []);
    fullScanMs = performance.now() - scanStart;
    return tracker.alive(lastTable);
  };
  const quickScan = (): ProcIdentity[] => tracker.aliveByReads(handle.cgroup?.pids() ?? [], handle.procRoot);
  const terminate = (live: ProcIdentity[]): void => {
    for (const id of live) {
      const key = `${id.pid}:${id.startTicks}`;
      if (termed.has(key)) continue;
      termed.add(key);
      send(id.pid, 'SIGTERM');
    }
    // Once per group: a member that traps TERM and spawns a successor must not get a stream of them.
    for (const pgid of tracker.groups) {
      if (termedGroups.has(pgid)) continue;
      termedGroups.add(pgid);
      send(-pgid, 'SIGTERM');
    }
  };

  const graceEnd = started + graceMs;
  // Only the wrapper moves processes into the run's cgroup, and everything it forks after that
  // stays there: a populated cgroup is the whole tree. An empty one (join failed, or not yet
  // done) falls back to full scans.
  const cgroupHoldsTree = (handle.cgroup?.pids().length ?? 0) > 0;
  let live = cgroupHoldsTree ? quickScan() : fullScan();
  let lastFullScan = performance.now();
  terminate(live);
  while (live.length > 0 && performance.now() < graceEnd) {
    await sleep(Math.min(TERM_POLL_MS, Math.max(1, graceEnd - performance.now())));
    // A cgroup lists newcomers (a successor spawned on TERM) by itself; without one, look again now and then.
    const now = performance.now();
    // ...but not when the scan would run past the grace: SIGKILL must not wait for it.
    if (!cgroupHoldsTree && now - lastFullScan >= FULL_SCAN_MS && graceEnd - now > 2 * fullScanMs) {
      live = fullScan();
      lastFullScan = performance.now();
    } else {
      live = quickScan();
    }
    terminate(live);
  }

  const killEnd = performance.now() + KILL_CONFIRM_MS;
  const killedGroups = new Set<number>();
  let checkedByFullScan = cgroupHoldsTree;
  for (;;) {
    handle.cgroup?.kill();
    live = quickScan();
    for (const id of live) send(id.pid, 'SIGKILL');
    for (const pgid of tracker.groups) {
      send(-pgid, 'SIGKILL');
      killedGroups.add(pgid);
    }
    if (live.length === 0) {
      if (checkedByFullScan) break;
      // The tree looks dead: one full look for anything forked since the last scan.
      live = fullScan();
      for (const id of live) send(id.pid, 'SIGKILL');
      // Members of a group that already got SIGKILL are only still dying (a busy CPU delays
      // that): they cannot fork any more, so they need no further full scan, just the polls.
      checkedByFullScan = live.every((id) => killedGroups.has(lastTable.get(id.pid)?.pgrp ?? -1));
      if (live.length === 0) break;
    }
    if (performance.now() >= killEnd) break;
    await sleep(KILL_POLL_MS);
  }
  const survivors = live;
  const killS = (performance.now() - started) / 1000;

  if (handle.strategy === 'subreaper' && !handle.isRootReaped()) {
    // The helper exits by itself once it has reaped the last orphan; SIGKILL only a stuck one.
    const exited = await handle.waitRootExit(HELPER_EXIT_WAIT_MS);
    if (!exited && !handle.isRootReaped() && handle.rootPid > 1) send(handle.rootPid, 'SIGKILL');
  }
  return { killS, survivors, signalledCount: termed.size };
}

/** WATCHDOG_TREE_KILL_ENABLED=false: the old behaviour, the leader alone. */
async function killSingle(handle: TreeHandle, graceMs: number, started: number): Promise<KillReport> {
  const pid = handle.rootPid;
  if (!handle.isRootReaped() && pid > 1) {
    send(pid, 'SIGTERM');
    if (!(await handle.waitRootExit(graceMs)) && !handle.isRootReaped()) {
      send(pid, 'SIGKILL');
      await handle.waitRootExit(KILL_CONFIRM_MS);
    }
  }
  return { killS: (performance.now() - started) / 1000, survivors: [], signalledCount: 1 };
}

/** Live members right now, without signalling: leftovers after a normal exit. */
export function liveMembers(handle: TreeHandle): ProcIdentity[] {
  if (!handle.tracker) return [];
  const table = readProcTable(handle.procRoot);
  handle.tracker.observe(table, handle.cgroup?.pids() ?? []);
  return handle.tracker.alive(table);
}
