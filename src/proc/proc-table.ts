import { readdirSync, readFileSync } from 'node:fs';
import { isRunningState, parseStat, type ProcStat } from './parse-stat.js';

/** A process as the kernel names it: a pid alone may be reused, (pid, starttime) is not. */
export interface ProcIdentity {
  pid: number;
  startTicks: number;
}

export type ProcTable = Map<number, ProcStat>;

/**
 * Every process's stat, read synchronously: the kill loop polls this every few ms and ~100
 * small reads take ~1-2 ms, cheaper than a round-trip through the libuv thread pool.
 */
export function readProcTable(procRoot = '/proc'): ProcTable {
  const table: ProcTable = new Map();
  let names: string[];
  try {
    names = readdirSync(procRoot);
  } catch {
    return table;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name), procRoot);
    if (stat) table.set(stat.pid, stat);
  }
  return table;
}

export function readStat(pid: number, procRoot = '/proc'): ProcStat | null {
  try {
    return parseStat(readFileSync(`${procRoot}/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}


/** True while that very process (same starttime) exists and is not a zombie. */
export function isAlive(id: ProcIdentity, table?: ProcTable, procRoot = '/proc'): boolean {
  const stat = table ? table.get(id.pid) : readStat(id.pid, procRoot);
  return stat !== undefined && stat !== null && stat.startTicks === id.startTicks && isRunningState(stat.state);
}
