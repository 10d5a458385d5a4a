import type * as NodeFs from 'node:fs';

export type ReadErrorKind = 'eacces' | 'parse' | 'other';

export type ReadOutcome = { bytes: number } | { error: 'vanished' | ReadErrorKind };

export interface StatReader {
  /** one stat read, through the kept-open fd when there is one */
  readStat(pid: number, path: string): ReadOutcome;
  /** one open/read/close of any file into `buf` */
  readInto(path: string, buf: Buffer, limit: number): ReadOutcome;
  release(pid: number): void;
  releaseAll(): void;
  /** closes the kept fds of pids `isKept` says no to (gone from the listing) */
  keepOnly(isKept: (pid: number) => boolean): void;
}

/**
 * Reads stat files, keeping up to `maxHeldFds` open between scans (one pread instead of
 * open+read+close; a kept fd answers ESRCH once its process is gone, so it is never mistaken
 * for a newcomer that reuses the pid). Self-contained: the scan worker runs its source text.
 */
export function createStatReader(
  fs: Pick<typeof NodeFs, 'openSync' | 'readSync' | 'closeSync'>,
  maxHeldFds: number,
  statBuf: Buffer,
): StatReader {
  // kept-open stat fds by pid; closed when the pid leaves the listing or answers ESRCH
  const heldFds = new Map<number, number>();
  let fdBudget = Math.max(0, maxHeldFds);
  const release = (pid: number): void => {
    const fd = heldFds.get(pid);
    if (fd === undefined) return;
    heldFds.delete(pid);
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
  };
  const releaseAll = (): void => {
    for (const pid of [...heldFds.keys()]) release(pid);
  };

  const readInto = (path: string, buf: Buffer, limit: number): ReadOutcome => readFileInto(fs, path, buf, limit);
  const classify = classifyReadError;

  const readStatOf = (pid: number, path: string): ReadOutcome => {
    const held = heldFds.get(pid);
    if (held !== undefined) {
      try {
        return { bytes: fs.readSync(held, statBuf, 0, statBuf.length, 0) };
      } catch (err) {
        release(pid);
        const kind = classify(err);
        // ESRCH: the process behind the fd is gone; the pid, if listed, is a newcomer: open afresh
        if (kind !== 'vanished') return { error: kind };
      }
    }
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'EMFILE' || code === 'ENFILE') {
        // never starve the process (sockets!) of descriptors: stop keeping any open
        fdBudget = 0;
        releaseAll();
      }
      return { error: classify(err) };
    }
    let keep = false;
    try {
      const bytes = fs.readSync(fd, statBuf, 0, statBuf.length, 0);
      keep = heldFds.size < fdBudget;
      if (keep) heldFds.set(pid, fd);
      return { bytes };
    } catch (err) {
      return { error: classify(err) };
    } finally {
      if (!keep) fs.closeSync(fd);
    }
  };

  const keepOnly = (isKept: (pid: number) => boolean): void => {
    for (const pid of [...heldFds.keys()]) if (!isKept(pid)) release(pid);
  };
  return { readStat: readStatOf, readInto, release, releaseAll, keepOnly };
}

/**
 * comm + starttime (field 22) + startcode/endcode (fields 26, 27, which change on every exec),
 * cut from the stat text without splitting it: the cache check for the ~98 % of processes that
 * do not match; with the ppid and starttime for run tracking. null when the line is malformed.
 * Self-contained: the scan worker runs its source text.
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

/** ENOENT/ESRCH: the process is gone (not an error); EACCES/EPERM; anything else. Self-contained. */
export function classifyReadError(err: unknown): 'vanished' | ReadErrorKind {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT' || code === 'ESRCH') return 'vanished';
  if (code === 'EACCES' || code === 'EPERM') return 'eacces';
  return 'other';
}

/** One read: procfs fills the buffer in a single call, a second read would only return 0. Self-contained. */
export function readFileInto(
  fs: Pick<typeof NodeFs, 'openSync' | 'readSync' | 'closeSync'>,
  path: string,
  buf: Buffer,
  limit: number,
): ReadOutcome {
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
