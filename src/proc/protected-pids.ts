import type { ProcStat } from './parse-stat.js';
import { ProcTree } from './proc-table.js';
import { readStat } from './read-proc.js';

export type ProtectedReason = 'init' | 'watchdog' | 'watchdog_ancestor' | 'agent' | 'agent_ancestor';

/** Pids (and the groups/sessions they are in) that nothing in the watchdog may ever signal. */
export interface ProtectedPids {
  /** every protected pid, with why */
  reasons: ReadonlyMap<number, ProtectedReason>;
  /** process groups and sessions holding a protected pid: never signalled as a whole */
  groups: ReadonlySet<number>;
}

export interface ProtectedInput {
  selfPid?: number;
  /** orchestrator agents' pids (the envelope's agents[].pid): they and their ancestors are protected */
  agentPids?: Iterable<number>;
}

/** pid <= 1, the watchdog, every agent and their ancestors; and any group or session holding one (signalling it would reach it). */
export function protectedPids(table: ReadonlyMap<number, ProcStat>, input: ProtectedInput = {}): ProtectedPids {
  const tree = new ProcTree(table);
  const reasons = new Map<number, ProtectedReason>([
    [0, 'init'],
    [1, 'init'],
  ]);
  const mark = (pid: number, reason: ProtectedReason): void => {
    if (!reasons.has(pid)) reasons.set(pid, reason);
  };
  const selfPid = input.selfPid ?? process.pid;
  mark(selfPid, 'watchdog');
  for (const a of tree.ancestors(selfPid)) mark(a.pid, 'watchdog_ancestor');
  for (const pid of input.agentPids ?? []) {
    if (!Number.isSafeInteger(pid) || pid <= 1) continue;
    mark(pid, 'agent');
    for (const a of tree.ancestors(pid)) mark(a.pid, 'agent_ancestor');
  }
  const groups = new Set<number>([0, 1]);
  for (const pid of reasons.keys()) {
    groups.add(pid);
    const stat = table.get(pid);
    if (stat) {
      groups.add(stat.pgrp);
      groups.add(stat.session);
    }
  }
  return { reasons, groups };
}

/** Why `pid` must not be signalled, or null when it may be. */
export function whyProtected(pid: number, guard: ProtectedPids): ProtectedReason | null {
  if (!Number.isSafeInteger(pid) || pid <= 1) return 'init';
  return guard.reasons.get(pid) ?? null;
}

export function isSignallable(pid: number, guard: ProtectedPids): boolean {
  return whyProtected(pid, guard) === null;
}

export function isSignallableGroup(pgrp: number, guard: ProtectedPids): boolean {
  return pgrp > 1 && !guard.groups.has(pgrp);
}

const WORDS: Record<ProtectedReason, string> = {
  init: 'pid 0 or 1 (init) is never signalled',
  watchdog: 'it is the watchdog itself',
  watchdog_ancestor: 'it is an ancestor of the watchdog',
  agent: 'it is an orchestrator agent (listed in the envelope)',
  agent_ancestor: 'it is an ancestor of an orchestrator agent',
};

export function describeProtected(pid: number, reason: ProtectedReason): string {
  return `pid ${pid}: ${WORDS[reason]}`;
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
