import { readdirSync } from 'node:fs';
import type { ProcStat } from './parse-stat.js';
import { readStat } from './read-proc.js';

export type ProcTable = Map<number, ProcStat>;

/** Synchronous: the kill loop polls this every few ms, and ~100 small reads (~1-2 ms) beat a thread-pool round trip. */
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

/** What the tree needs of a process: its parent link and identity. */
export interface LinkedProcess {
  pid: number;
  ppid: number;
  startTicks: number;
}

/** Parent links of one table, indexed once: children, descendants, ancestors. */
export class ProcTree<T extends LinkedProcess = ProcStat> {
  private readonly byParent = new Map<number, T[]>();

  constructor(readonly table: ReadonlyMap<number, T>) {
    for (const stat of table.values()) {
      if (stat.ppid === stat.pid) continue;
      const list = this.byParent.get(stat.ppid);
      if (list) list.push(stat);
      else this.byParent.set(stat.ppid, [stat]);
    }
  }

  children(pid: number): readonly T[] {
    return this.byParent.get(pid) ?? [];
  }

  descendants(pid: number): T[] {
    return descendantsBy(pid, (p) => this.children(p));
  }

  ancestors(pid: number): T[] {
    return ancestorsBy(pid, (p) => this.table.get(p));
  }
}

/** Every process below `pid` by parent links, `pid` itself excluded. */
export function descendantsBy<T extends LinkedProcess>(pid: number, children: (pid: number) => Iterable<T>): T[] {
  const found: T[] = [];
  const stack = [pid];
  const seen = new Set<number>([pid]);
  while (stack.length > 0) {
    for (const child of children(stack.pop()!)) {
      if (seen.has(child.pid)) continue;
      seen.add(child.pid);
      found.push(child);
      stack.push(child.pid);
    }
  }
  return found;
}

/** Parent first, up to the root; bounded against a corrupt (cyclic) table. */
export function ancestorsBy<T extends LinkedProcess>(pid: number, get: (pid: number) => T | undefined): T[] {
  const out: T[] = [];
  let cursor = get(get(pid)?.ppid ?? -1);
  for (let hops = 0; cursor && hops < 4096; hops++) {
    out.push(cursor);
    if (cursor.ppid === cursor.pid) break;
    cursor = get(cursor.ppid);
  }
  return out;
}
