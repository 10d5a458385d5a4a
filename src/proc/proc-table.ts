import { readdirSync } from 'node:fs';
import type { ProcStat } from './parse-stat.js';
import { orElse, readStat } from './read-proc.js';

export type ProcTable = Map<number, ProcStat>;

/** Synchronous: the kill loop polls this every few ms, and ~100 small reads (~1-2 ms) beat a thread-pool round trip. */
export function readProcTable(procRoot = '/proc'): ProcTable {
  const table: ProcTable = new Map();
  for (const name of orElse(() => readdirSync(procRoot), [])) {
    const stat = /^\d+$/.test(name) ? readStat(Number(name), procRoot) : null;
    if (stat) table.set(stat.pid, stat);
  }
  return table;
}

export type LinkedProcess = Pick<ProcStat, 'pid' | 'ppid' | 'startTicks'>;

/** Every process below `pid` by parent links, `pid` itself excluded. */
function descendantsBy<T extends LinkedProcess>(pid: number, children: (pid: number) => Iterable<T>): T[] {
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
function ancestorsBy<T extends LinkedProcess>(pid: number, get: (pid: number) => T | undefined): T[] {
  const out: T[] = [];
  let cursor = get(get(pid)?.ppid ?? -1);
  for (let hops = 0; cursor && hops < 4096; hops++) {
    out.push(cursor);
    if (cursor.ppid === cursor.pid) break;
    cursor = get(cursor.ppid);
  }
  return out;
}

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

/** An open-addressing map from a pid to an index + 1 (0: none), in typed arrays refilled from tick to tick. */
class PidIndex {
  private keys = new Int32Array(16);
  private values = new Int32Array(16);
  private mask = 15;

  /** Emptied, with room for `n` keys at a load of at most one half. */
  reset(n: number): void {
    let size = 16;
    while (size < n * 2) size *= 2;
    // shrinks too, so one burst of processes does not keep its memory for good
    if (this.keys.length !== size) {
      this.keys = new Int32Array(size);
      this.values = new Int32Array(size);
    } else {
      this.values.fill(0);
    }
    this.mask = size - 1;
  }

  private slot(pid: number): number {
    let s = Math.imul(pid, 0x9e3779b1) & this.mask;
    while (this.values[s] !== 0 && this.keys[s] !== pid) s = (s + 1) & this.mask;
    return s;
  }

  get(pid: number): number {
    return this.values[this.slot(pid)]!;
  }

  set(pid: number, value: number): void {
    const s = this.slot(pid);
    this.keys[s] = pid;
    this.values[s] = value;
  }
}

/** ProcTree's answers over one scan's flat (pid, ppid, starttime) triples, without an object per process (docs/benchmarks.md). */
export class LineageTree {
  private lineage: ArrayLike<number> = [];
  private readonly byPid = new PidIndex();
  /** ppid -> index + 1 of its first and last child, in lineage order; next sibling per index */
  private readonly firstChild = new PidIndex();
  private readonly lastChild = new PidIndex();
  private nextSibling = new Int32Array(0);

  /** Indexes a new lineage (kept, not copied, until the next reset). */
  reset(lineage: ArrayLike<number>): void {
    const n = Math.floor(lineage.length / 3);
    this.lineage = lineage;
    this.byPid.reset(n);
    this.firstChild.reset(n);
    this.lastChild.reset(n);
    if (this.nextSibling.length < n || this.nextSibling.length > 4 * n + 64) this.nextSibling = new Int32Array(n + (n >> 2) + 16);
    this.nextSibling.fill(0, 0, n);
    for (let i = 0; i < n; i++) this.byPid.set(lineage[3 * i]!, i + 1);
    for (let i = 0; i < n; i++) {
      const pid = lineage[3 * i]!;
      const ppid = lineage[3 * i + 1]!;
      if (ppid === pid || this.byPid.get(pid) !== i + 1) continue;
      const last = this.lastChild.get(ppid);
      if (last === 0) this.firstChild.set(ppid, i + 1);
      else this.nextSibling[last - 1] = i + 1;
      this.lastChild.set(ppid, i + 1);
    }
  }

  private at(index: number): LinkedProcess {
    const l = this.lineage;
    return { pid: l[3 * index]!, ppid: l[3 * index + 1]!, startTicks: l[3 * index + 2]! };
  }

  get(pid: number): LinkedProcess | undefined {
    const i = this.byPid.get(pid);
    return i === 0 ? undefined : this.at(i - 1);
  }

  startOf(pid: number): number | undefined {
    const i = this.byPid.get(pid);
    return i === 0 ? undefined : this.lineage[3 * (i - 1) + 2];
  }

  children(pid: number): LinkedProcess[] {
    const out: LinkedProcess[] = [];
    for (let c = this.firstChild.get(pid); c !== 0; c = this.nextSibling[c - 1]!) out.push(this.at(c - 1));
    return out;
  }

  descendants(pid: number): LinkedProcess[] {
    return descendantsBy(pid, (p) => this.children(p));
  }

  ancestors(pid: number): LinkedProcess[] {
    return ancestorsBy(pid, (p) => this.get(p));
  }
}
