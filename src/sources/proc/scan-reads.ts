import * as nodeFs from 'node:fs';
import { orElse, readOwnOpenFilesLimit } from '../../proc/read-proc.js';

export type ReadErrorKind = 'eacces' | 'parse' | 'other';

type ReadOutcome = { bytes: number } | { error: 'vanished' | ReadErrorKind; errno?: string };

export type ScanFs = Pick<typeof nodeFs, 'readdirSync' | 'openSync' | 'readSync' | 'closeSync'>;

/** ENOENT/ESRCH: the process is gone (not an error). */
function classifyReadError(err: unknown): 'vanished' | ReadErrorKind {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT' || code === 'ESRCH') return 'vanished';
  return code === 'EACCES' || code === 'EPERM' ? 'eacces' : 'other';
}

/** One read: procfs fills the buffer in a single call, a second read would only return 0. `keep` may take the fd (not closed then). */
export function readFileInto(fs: ScanFs, path: string, buf: Buffer, limit = buf.length, keep?: (fd: number) => boolean): ReadOutcome {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (err) {
    return { error: classifyReadError(err), errno: (err as { code?: string }).code };
  }
  let isKept = false;
  try {
    const bytes = fs.readSync(fd, buf, 0, limit, 0);
    isKept = keep?.(fd) ?? false;
    return { bytes };
  } catch (err) {
    return { error: classifyReadError(err) };
  } finally {
    if (!isKept) fs.closeSync(fd);
  }
}

/** Reads stat files, keeping up to `fdBudget` open between scans (one pread; ESRCH once the process is gone, never a newcomer's stat). */
export class StatReader {
  private readonly held = new Map<number, number>();

  constructor(
    private readonly fs: ScanFs,
    private fdBudget: number,
    readonly buf: Buffer,
  ) {}

  read(pid: number, path: string): ReadOutcome {
    const fd = this.held.get(pid);
    if (fd !== undefined) {
      try {
        return { bytes: this.fs.readSync(fd, this.buf, 0, this.buf.length, 0) };
      } catch (err) {
        this.release(pid);
        const kind = classifyReadError(err);
        // ESRCH: the process behind the fd is gone; the pid, if listed, is a newcomer: open afresh
        if (kind !== 'vanished') return { error: kind };
      }
    }
    const read = readFileInto(this.fs, path, this.buf, this.buf.length, (opened) => {
      const isKept = this.held.size < this.fdBudget;
      if (isKept) this.held.set(pid, opened);
      return isKept;
    });
    // never starve the process (sockets!) of descriptors: stop keeping any open
    if ('errno' in read && (read.errno === 'EMFILE' || read.errno === 'ENFILE')) this.stopKeeping();
    return read;
  }

  isKept(pid: number): boolean {
    return this.held.has(pid);
  }

  release(pid: number): void {
    const fd = this.held.get(pid);
    if (fd === undefined) return;
    this.held.delete(pid);
    orElse(() => this.fs.closeSync(fd), undefined); // already closed
  }

  /** Closes the kept fds of pids `isKept` says no to (gone from the listing). */
  keepOnly(isKept: (pid: number) => boolean): void {
    for (const pid of [...this.held.keys()]) if (!isKept(pid)) this.release(pid);
  }

  stopKeeping(): void {
    this.fdBudget = 0;
    this.keepOnly(() => false);
  }
}

/** What the cache check needs of a stat line: parent, start time, and what an exec changes (startcode, endcode, comm's FNV-1a). */
export interface StatKey {
  ppid: number;
  startTicks: number;
  codeStart: number;
  codeEnd: number;
  commHash: number;
}

/** The StatKey of the stat line in `buf[0, bytes)`, without decoding it (~98 % of processes, every scan); false when malformed. */
export function readStatKey(buf: Buffer, bytes: number, key: StatKey): boolean {
  const open = buf.indexOf(0x28);
  const close = bytes > 0 ? buf.lastIndexOf(0x29, bytes - 1) : -1;
  if (open < 0 || close < open || open >= bytes) return false;
  let hash = 0x811c9dc5;
  for (let i = open + 1; i < close; i += 1) hash = Math.imul(hash ^ buf[i]!, 0x01000193);
  key.commHash = hash >>> 0;
  let field = 3;
  let n = 0;
  for (let i = close + 2; i <= bytes && field <= 27; i += 1) {
    const c = i < bytes ? buf[i]! : 0x20;
    if (c !== 0x20 && c !== 0x0a) {
      if (c >= 0x30 && c <= 0x39) n = n * 10 + (c - 0x30);
      continue;
    }
    if (field === 4) key.ppid = n;
    else if (field === 22) key.startTicks = n;
    else if (field === 26) key.codeStart = n;
    else if (field === 27) key.codeEnd = n;
    field += 1;
    n = 0;
  }
  return field > 27;
}

export const isSameKey = (a: StatKey, b: StatKey): boolean =>
  a.startTicks === b.startTicks && a.codeStart === b.codeStart && a.codeEnd === b.codeEnd && a.commHash === b.commHash;

/** Stat fds kept open: a quarter of the open-file soft limit, at most 16,384 (null: unknown, none). */
export function heldFdBudgetOf(softLimit: number | null): number {
  return softLimit === null ? 0 : Math.min(16_384, Math.floor(softLimit / 4));
}

/** Only procfs fds go stale with their process (ESRCH); a fixture tree's files would not. */
export function readHeldFdBudget(root: string): number {
  // PROC_SUPER_MAGIC
  return orElse(() => (nodeFs.statfsSync(root).type === 0x9fa0 ? heldFdBudgetOf(readOwnOpenFilesLimit()) : 0), 0);
}

/** (pid, ppid, starttime) triples in one buffer kept from scan to scan, not a large JS array each; `take` copies them out. */
export class LineageBuffer {
  private buf = new Float64Array(3 * 1024);
  private len = 0;

  cleared(): this {
    this.len = 0;
    return this;
  }

  push(pid: number, ppid: number, startTicks: number): void {
    if (this.len + 3 > this.buf.length) {
      const grown = new Float64Array(this.buf.length * 2);
      grown.set(this.buf);
      this.buf = grown;
    }
    this.buf[this.len] = pid;
    this.buf[this.len + 1] = ppid;
    this.buf[this.len + 2] = startTicks;
    this.len += 3;
  }

  take(): Float64Array<ArrayBuffer> {
    return this.buf.slice(0, this.len);
  }
}
