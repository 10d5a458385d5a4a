import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { trySignal } from './spawn.js';
import { linkedMembers, newTracker, type KillStrategy, type TrackedProcess, type TreeHandle, type TreeTracker } from './tree-tracker.js';
import { identityKey, isRunningState, isSameProcess, type ProcIdentity, type ProcStat } from '../proc/parse-stat.js';
import { readProcTable, type ProcTable } from '../proc/proc-table.js';
import { readBootId, readStat } from '../proc/read-proc.js';
import { signalWithGrace, startSignalWithGrace, type SignalledProcess } from '../proc/signal-with-grace.js';

const TERM_POLL_MS = 20;
const KILL_POLL_MS = 5;
const FULL_SCAN_MS = 100;
/** A task stuck in D state may outlive a SIGKILL for long: past this it is reported, not waited for. */
const KILL_CONFIRM_MS = 10_000;
const HELPER_EXIT_WAIT_MS = 300;

/** Every process signalled, each with its strongest signal and when (epoch ms), and who could not be killed: never silent. */
export interface KillReceipt {
  strategy: KillStrategy;
  processes: { pid: number; comm: string; signal: string; atMs: number }[];
  confirmedDead: number;
  survivors: { pid: number; comm: string }[];
}

/** The receipt at the JSON edge (`run --json`, a re-test's `receipt`). */
export function receiptToJson(receipt: KillReceipt) {
  return {
    strategy: receipt.strategy,
    processes: receipt.processes.map((p) => ({ pid: p.pid, comm: p.comm, signal: p.signal, at: new Date(p.atMs).toISOString() })),
    confirmed_dead: receipt.confirmedDead,
    survivors: receipt.survivors.map((s) => ({ pid: s.pid, comm: s.comm })),
  };
}

/** `killS`: from the first signal to every member confirmed dead (the helper's own exit not included). */
export interface KillReport {
  killS: number;
  survivors: TrackedProcess[];
  receipt: KillReceipt;
}

class ReceiptBook {
  private readonly entries = new Map<string, KillReceipt['processes'][number]>();
  /** By pid: what signal-with-grace reports sent is keyed by (pid, starttime) through them. */
  readonly members = new Map<number, TrackedProcess>();

  /** Records `signal` to `member`, sent here or by other means (cgroup.kill), unless a stronger one is on record. */
  note(member: TrackedProcess, signal: string, atMs = Date.now()): void {
    const key = identityKey(member);
    const known = this.entries.get(key)?.signal;
    if (known === undefined || (known === 'SIGTERM' && signal === 'SIGKILL'))
      this.entries.set(key, { pid: member.pid, comm: member.comm, signal, atMs });
  }

  record(sent: readonly SignalledProcess[]): void {
    for (const s of sent) {
      const member = this.members.get(s.pid);
      if (member) this.note({ ...member, comm: s.comm }, s.signal, s.at);
    }
  }

  receipt(strategy: KillStrategy, survivors: readonly TrackedProcess[]): KillReceipt {
    const alive = new Set(survivors.map(identityKey));
    const processes = [...this.entries.values()].sort((a, b) => a.atMs - b.atMs || a.pid - b.pid);
    const confirmedDead = [...this.entries.keys()].filter((k) => !alive.has(k)).length;
    const comms = new Map(processes.map((p) => [p.pid, p.comm]));
    return { strategy, processes, confirmedDead, survivors: survivors.map((s) => ({ pid: s.pid, comm: comms.get(s.pid) ?? s.comm })) };
  }
}

/** One kill in progress: the scans, the graces under way, and the book of what was signalled. */
class TreeKill {
  readonly book = new ReceiptBook();
  readonly graces: Promise<void>[] = [];
  private readonly inGrace = new Set<string>();
  private readonly termedGroups = new Set<number>();
  readonly killedGroups = new Set<number>();
  fullScanMs = 0;
  lastTable: ProcTable = new Map();

  constructor(
    readonly handle: TreeHandle,
    readonly tracker: TreeTracker,
  ) {}

  fullScan(): TrackedProcess[] {
    const started = performance.now();
    this.lastTable = readProcTable();
    this.tracker.observe(this.lastTable, this.handle.cgroup?.pids() ?? []);
    this.fullScanMs = performance.now() - started;
    return this.remember(this.tracker.alive(this.lastTable));
  }

  quickScan(): TrackedProcess[] {
    return this.remember(this.tracker.aliveByReads(this.handle.cgroup?.pids() ?? []));
  }

  linkScan(): TrackedProcess[] {
    return this.remember(linkedMembers(this.handle, this.tracker));
  }

  private remember(live: TrackedProcess[]): TrackedProcess[] {
    for (const member of live) this.book.members.set(member.pid, member);
    return live;
  }

  /** Newcomers get the /proc library's SIGTERM -> grace -> SIGKILL, their grace ending with the run's. */
  async terminate(live: TrackedProcess[], graceEnd: number): Promise<void> {
    const fresh = live.filter((m) => !this.inGrace.has(identityKey(m)));
    for (const member of fresh) this.inGrace.add(identityKey(member));
    if (fresh.length > 0) {
      const graceMs = Math.max(0, graceEnd - performance.now());
      const started = await startSignalWithGrace(fresh, { graceMs, pollMs: TERM_POLL_MS, killWaitMs: 0 });
      this.book.record(started.terminated);
      this.graces.push(started.done.then((receipt) => this.book.record(receipt.processes)));
    }
    // Once per group: a member that traps TERM and spawns a successor must not get a stream of them.
    for (const pgid of this.tracker.groups) {
      if (this.termedGroups.has(pgid)) continue;
      this.termedGroups.add(pgid);
      trySignal(-pgid, 'SIGTERM');
    }
  }

  /** SIGKILL now: the whole cgroup at once, every member still itself, every group. */
  async kill(live: TrackedProcess[]): Promise<void> {
    if (this.handle.cgroup && live.length > 0) {
      for (const member of live) this.book.note(member, 'SIGKILL');
      this.handle.cgroup.kill();
    }
    if (live.length > 0) {
      const receipt = await signalWithGrace(live, { graceMs: 0, killWaitMs: 0 });
      this.book.record(receipt.processes);
    }
    for (const pgid of this.tracker.groups) {
      trySignal(-pgid, 'SIGKILL');
      this.killedGroups.add(pgid);
    }
  }
}

/** SIGTERM to the whole tree, SIGKILL what is left after the grace (a leader gone on TERM may leave children), confirm all dead. */
export async function killTree(handle: TreeHandle, graceMs: number): Promise<KillReport> {
  const started = performance.now();
  if (handle.strategy === 'single' || !handle.tracker) return killSingle(handle, graceMs, started);
  const kill = new TreeKill(handle, handle.tracker);
  await termPhase(kill, started + graceMs);
  const survivors = await killPhase(kill, performance.now() + KILL_CONFIRM_MS);
  const killS = (performance.now() - started) / 1000;
  if (handle.rootIsHelper && !handle.isRootReaped()) {
    // The helper exits by itself once it has reaped the last orphan; SIGKILL only a stuck one (our unreaped child: no pid reuse).
    const exited = await handle.waitRootExit(HELPER_EXIT_WAIT_MS);
    const stat = exited || handle.isRootReaped() || handle.rootPid <= 1 ? null : readStat(handle.rootPid);
    if (stat && trySignal(stat.pid, 'SIGKILL')) kill.book.note(stat, 'SIGKILL');
  }
  return { killS, survivors, receipt: kill.book.receipt(handle.strategy, survivors) };
}

async function termPhase(kill: TreeKill, graceEnd: number): Promise<void> {
  // A cgroup or a helper holds the tree: links suffice to start; the closing full scan still sweeps groups and sessions.
  const held = kill.handle.cgroup !== null || kill.handle.rootIsHelper;
  let live = held ? kill.linkScan() : kill.fullScan();
  let lastFullScan = performance.now();
  await kill.terminate(live, graceEnd);
  while (live.length > 0 && performance.now() < graceEnd) {
    await delay(Math.min(TERM_POLL_MS, Math.max(1, graceEnd - performance.now())));
    const now = performance.now();
    // Look again now and then for newcomers (a successor spawned on TERM), unless the scan would run past the grace.
    if (!held && now - lastFullScan >= FULL_SCAN_MS && graceEnd - now > 2 * kill.fullScanMs) {
      live = kill.fullScan();
      lastFullScan = performance.now();
    } else {
      live = held ? kill.linkScan() : kill.quickScan();
    }
    await kill.terminate(live, graceEnd);
  }
  await Promise.all(kill.graces);
}

/** SIGKILL until a full scan finds nobody; returns who is still running when time is up. */
async function killPhase(kill: TreeKill, killEnd: number): Promise<TrackedProcess[]> {
  let live = kill.quickScan();
  let checkedByFullScan = false;
  for (;;) {
    await kill.kill(live);
    live = kill.quickScan();
    if (live.length === 0) {
      if (checkedByFullScan) return [];
      // The tree looks dead: one full look for anything forked or escaped since the last scan.
      live = kill.fullScan();
      await kill.kill(live);
      // Members of a group that already got SIGKILL are only still dying: they cannot fork, so polls suffice.
      checkedByFullScan = live.every((m) => kill.killedGroups.has(kill.lastTable.get(m.pid)?.pgrp ?? -1));
      if (live.length === 0) return [];
    }
    if (performance.now() >= killEnd) return live;
    await delay(KILL_POLL_MS);
  }
}

/** WATCHDOG_TREE_KILL_ENABLED=false: the leader alone. */
async function killSingle(handle: TreeHandle, graceMs: number, started: number): Promise<KillReport> {
  const book = new ReceiptBook();
  const stat = handle.isRootReaped() ? null : readStat(handle.rootPid);
  const survivors: TrackedProcess[] = [];
  if (stat) {
    const leader: TrackedProcess = { pid: stat.pid, startTicks: stat.startTicks, comm: stat.comm };
    const receipt = await signalWithGrace([leader], { graceMs, pollMs: TERM_POLL_MS, killWaitMs: KILL_CONFIRM_MS });
    book.members.set(leader.pid, leader);
    book.record(receipt.processes);
    if (!receipt.confirmedDead) survivors.push(leader);
  }
  return { killS: (performance.now() - started) / 1000, survivors, receipt: book.receipt('single', survivors) };
}

/** Kills the tree of a run whose watchdog died, by its root's identity and `boot` id; null when that root is gone or no longer leads its session. */
export async function killOrphanTree(root: ProcIdentity, boot: string | null, graceMs: number): Promise<KillReport | null> {
  const live = (): ProcStat | null => {
    const stat = readStat(root.pid);
    return isSameProcess(stat, root) && isRunningState(stat.state) ? stat : null;
  };
  const bootNow = readBootId();
  if ((boot !== null && bootNow !== null && boot !== bootNow) || live()?.session !== root.pid) return null;
  return killTree(
    {
      strategy: 'proc-sweep',
      rootPid: root.pid,
      rootIsHelper: false,
      isRootReaped: () => live() === null,
      waitRootExit: async () => live() === null,
      cgroup: null,
      tracker: newTracker(root.pid, false),
    },
    graceMs,
  );
}
