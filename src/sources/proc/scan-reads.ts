import * as nodeFs from 'node:fs';
import { openFilesSoftLimit } from '../../proc/open-files.js';

export type ReadErrorKind = 'eacces' | 'parse' | 'other';

export type ReadOutcome = { bytes: number } | { error: 'vanished' | ReadErrorKind };

export type ScanFs = Pick<typeof nodeFs, 'readdirSync' | 'openSync' | 'readSync' | 'closeSync'>;

/** ENOENT/ESRCH: the process is gone (not an error); EACCES/EPERM; anything else. */
export function classifyReadError(err: unknown): 'vanished' | ReadErrorKind {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT' || code === 'ESRCH') return 'vanished';
  if (code === 'EACCES' || code === 'EPERM') return 'eacces';
  return 'other';
}

/** One read: procfs fills the buffer in a single call, a second read would only return 0. */
export function readFileInto(fs: ScanFs, path: string, buf: Buffer, limit = buf.length): ReadOutcome {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (err) {
    return { error: classifyReadError(err) };
  }
  try {
    return { bytes: fs.readSync(fd, buf, 0, limit, 0) };
  } catch (err) {
    return { error: classifyReadError(err) };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads stat files, keeping up to `maxHeldFds` open between scans (one pread instead of
 * open+read+close; a kept fd answers ESRCH once its process is gone, so it is never mistaken for
 * a newcomer that reuses the pid).
 */
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
    let opened: number;
    try {
      opened = this.fs.openSync(path, 'r');
    } catch (err) {
      const code = (err as { code?: string }).code;
      // never starve the process (sockets!) of descriptors: stop keeping any open
      if (code === 'EMFILE' || code === 'ENFILE') this.stopKeeping();
      return { error: classifyReadError(err) };
    }
    let isKept = false;
    try {
      const bytes = this.fs.readSync(opened, this.buf, 0, this.buf.length, 0);
      isKept = this.held.size < this.fdBudget;
      if (isKept) this.held.set(pid, opened);
      return { bytes };
    } catch (err) {
      return { error: classifyReadError(err) };
    } finally {
      if (!isKept) this.fs.closeSync(opened);
    }
  }

  release(pid: number): void {
    const fd = this.held.get(pid);
    if (fd === undefined) return;
    this.held.delete(pid);
    try {
      this.fs.closeSync(fd);
    } catch {
      // already closed
    }
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

/**
 * comm + starttime (field 22) + startcode/endcode (fields 26, 27, which change on every exec),
 * cut from the stat text without splitting it: the cache check for the ~98 % of processes that
 * do not match; with the ppid and starttime for the lineage. null when the line is malformed.
 */
export function statIdentity(text: string): { identity: string; ppid: number; startTicks: number } | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  let pos = close + 2; // field 3
  let startOf4 = -1;
  let startOf22 = -1;
  let startOf26 = -1;
  for (let field = 3; field <= 27; field += 1) {
    if (field === 4) startOf4 = pos;
    if (field === 22) startOf22 = pos;
    if (field === 26) startOf26 = pos;
    if (field === 27) break;
    const space = text.indexOf(' ', pos);
    if (space < 0) return null;
    pos = space + 1;
  }
  const endOf22 = text.indexOf(' ', startOf22);
  let endOf27 = text.indexOf(' ', pos);
  if (endOf27 < 0) endOf27 = text.length;
  return {
    identity: `${text.slice(open, close + 1)}${text.slice(startOf22 - 1, endOf22)}${text.slice(startOf26 - 1, endOf27)}`,
    ppid: Number(text.slice(startOf4, text.indexOf(' ', startOf4))),
    startTicks: Number(text.slice(startOf22, endOf22)),
  };
}

/** Stat fds kept open: a quarter of the open-file soft limit, at most 16,384 (null: unknown, none). */
export function heldFdBudgetOf(softLimit: number | null): number {
  return softLimit === null ? 0 : Math.min(16_384, Math.floor(softLimit / 4));
}

/** The same from a /proc/<pid>/limits text. */
export function heldFdBudget(limitsText: string): number {
  return heldFdBudgetOf(openFilesSoftLimit(limitsText));
}

const PROC_SUPER_MAGIC = 0x9fa0;

/** Only procfs fds go stale with their process (ESRCH); a fixture tree's files would not. */
export function readHeldFdBudget(root: string): number {
  try {
    if (nodeFs.statfsSync(root).type !== PROC_SUPER_MAGIC) return 0;
    return heldFdBudget(nodeFs.readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return 0;
  }
}
