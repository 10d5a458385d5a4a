import { ancestorsBy, descendantsBy, type LinkedProcess } from './proc-table.js';

const EMPTY = new Float64Array(0);

/**
 * An open-addressing map from a pid to an index + 1 (0: none), in typed arrays that are kept and
 * refilled from tick to tick.
 */
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

/**
 * ProcTree's questions (a pid's start time, its descendants, its ancestors) over one scan's
 * lineage, the flat (pid, ppid, starttime) triples the scan worker hands over, without making an
 * object or a map entry per process: the tick at a few thousand processes a second allocated two
 * maps and an object per process, each tick, and they outlived the young generation. Its
 * answers, order included, are ProcTree's over the same table (a pid listed twice: its last triple).
 */
export class LineageTree {
  private lineage: ArrayLike<number> = EMPTY;
  /** pid -> index of its triple + 1 */
  private readonly byPid = new PidIndex();
  /** ppid -> index + 1 of its first and last child, in lineage order; next sibling per index */
  private readonly firstChild = new PidIndex();
  private readonly lastChild = new PidIndex();
  private nextSibling = new Int32Array(0);

  /** Indexes a new lineage (it is kept, not copied, until the next reset). */
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

  /** The process that has `pid` now, if any. */
  get(pid: number): LinkedProcess | undefined {
    const i = this.byPid.get(pid);
    return i === 0 ? undefined : this.at(i - 1);
  }

  /** The start time of the process that has `pid` now, if any. */
  startOf(pid: number): number | undefined {
    const i = this.byPid.get(pid);
    return i === 0 ? undefined : this.lineage[3 * (i - 1) + 2];
  }

  children(pid: number): LinkedProcess[] {
    const out: LinkedProcess[] = [];
    for (let c = this.firstChild.get(pid); c !== 0; c = this.nextSibling[c - 1]!) out.push(this.at(c - 1));
    return out;
  }

  /** ProcTree.descendants, over this lineage. */
  descendants(pid: number): LinkedProcess[] {
    return descendantsBy(pid, (p) => this.children(p));
  }

  /** ProcTree.ancestors, over this lineage. */
  ancestors(pid: number): LinkedProcess[] {
    return ancestorsBy(pid, (p) => this.get(p));
  }
}
