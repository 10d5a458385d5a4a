import type { ProcStat } from './parse-stat.js';
import { ProcTree } from './proc-table.js';
import { readStat } from './read-proc.js';

const WORDS = {
  init: 'pid 0 or 1 (init) is never signalled',
  watchdog: 'it is the watchdog itself',
  watchdog_ancestor: 'it is an ancestor of the watchdog',
  agent: 'it is an orchestrator agent (listed in the envelope)',
  agent_ancestor: 'it is an ancestor of an orchestrator agent',
};

export type ProtectedReason = keyof typeof WORDS;

/** Pids that nothing in the watchdog may ever signal, with why, and the groups and sessions holding one (never signalled whole). */
export interface ProtectedPids {
  reasons: ReadonlyMap<number, ProtectedReason>;
  groups: ReadonlySet<number>;
}

/** pid <= 1, the watchdog, every agent (the envelope's agents[].pid) and their ancestors; and any group or session holding one. */
export function protectedPids(
  table: ReadonlyMap<number, ProcStat>,
  { selfPid = process.pid, agentPids = [] }: { selfPid?: number; agentPids?: Iterable<number> } = {},
): ProtectedPids {
  const tree = new ProcTree(table);
  const reasons = new Map<number, ProtectedReason>([
    [0, 'init'],
    [1, 'init'],
  ]);
  const mark = (pid: number, reason: ProtectedReason, ancestors: ProtectedReason): void => {
    if (!reasons.has(pid)) reasons.set(pid, reason);
    for (const a of tree.ancestors(pid)) if (!reasons.has(a.pid)) reasons.set(a.pid, ancestors);
  };
  mark(selfPid, 'watchdog', 'watchdog_ancestor');
  for (const pid of agentPids) if (Number.isSafeInteger(pid) && pid > 1) mark(pid, 'agent', 'agent_ancestor');
  const groups = new Set<number>([0, 1]);
  for (const pid of reasons.keys()) {
    const stat = table.get(pid);
    for (const g of stat ? [pid, stat.pgrp, stat.session] : [pid]) groups.add(g);
  }
  return { reasons, groups };
}

/** Why `pid` must not be signalled, or null when it may be (without a guard: only pid <= 1 is refused). */
export function whyProtected(pid: number, guard?: ProtectedPids): ProtectedReason | null {
  if (!Number.isSafeInteger(pid) || pid <= 1) return 'init';
  return guard?.reasons.get(pid) ?? null;
}

export function isSignallable(pid: number, guard: ProtectedPids): boolean {
  return whyProtected(pid, guard) === null;
}

export function isSignallableGroup(pgrp: number, guard: ProtectedPids): boolean {
  return pgrp > 1 && !guard.groups.has(pgrp);
}

/** `pid N: <why>` when `pid` is protected, else null. */
export function describeProtected(pid: number, guard?: ProtectedPids): string | null {
  const why = whyProtected(pid, guard);
  return why === null ? null : `pid ${pid}: ${WORDS[why]}`;
}

/** The watchdog's guard from its ancestor chain alone: no full table (tens of ms at 5,000 processes). */
export function watchdogGuard(procRoot = '/proc', selfPid = process.pid): ProtectedPids {
  const table = new Map<number, ProcStat>();
  for (let stat = readStat(selfPid, procRoot); stat && !table.has(stat.pid) && table.size < 4096; stat = readStat(stat.ppid, procRoot)) {
    table.set(stat.pid, stat);
    if (stat.ppid <= 0) break;
  }
  return protectedPids(table, { selfPid });
}
