import { readFileSync } from 'node:fs';
import { fdFileId, fdInfoLocks, readFds } from './fds.js';

/** One row of /proc/locks (blocked waiters, the `->` rows, are not held and are left out). */
export interface LockRow {
  /** FLOCK, POSIX, OFDLCK, LEASE, ... */
  type: string;
  /** READ or WRITE (UNLCK for a lease being broken) */
  access: string;
  /** the process that took it (-1 for OFD locks) */
  pid: number;
  /** `maj:min` in hex, as the kernel writes it */
  majMin: string;
  inode: number;
}

export interface HeldLock {
  path: string;
  /** e.g. `flock write`, `posix read` */
  kind: string;
}

/** Parses /proc/locks: `1: FLOCK  ADVISORY  WRITE 1234 fe:00:2146817 0 EOF`. */
export function parseLocks(text: string): LockRow[] {
  const rows: LockRow[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || f[1] === '->') continue;
    const [, type, , access, pidText, dev] = f;
    const m = /^([0-9a-f]+:[0-9a-f]+):(\d+)$/.exec(dev ?? '');
    if (!type || !access || !m) continue;
    rows.push({ type, access, pid: Number(pidText), majMin: m[1]!, inode: Number(m[2]) });
  }
  return rows;
}

const kindOf = (row: LockRow): string => `${row.type === 'OFDLCK' ? 'ofd' : row.type.toLowerCase()} ${row.access.toLowerCase()}`;

/** /proc/locks joined to the fds of `pids` on (device, inode); held when it names the pid or fdinfo lists it (a forked flock names the parent). */
export function readHeldLocks(pids: Iterable<number>, procRoot = '/proc'): Map<number, HeldLock[]> {
  const out = new Map<number, HeldLock[]>();
  let rows: LockRow[];
  try {
    rows = parseLocks(readFileSync(`${procRoot}/locks`, 'utf8'));
  } catch {
    return out;
  }
  const byFile = new Map<string, LockRow[]>();
  for (const row of rows) {
    const key = `${row.majMin}:${row.inode}`;
    byFile.set(key, [...(byFile.get(key) ?? []), row]);
  }
  for (const pid of pids) {
    if (rows.length === 0) break;
    const held: HeldLock[] = [];
    for (const fd of readFds(pid, procRoot)) {
      if (!fd.target.startsWith('/')) continue;
      const id = fdFileId(pid, fd.fd, procRoot);
      const locked = id && byFile.get(`${id.majMin}:${id.inode}`);
      if (!locked) continue;
      const own = locked.filter((r) => r.pid === pid);
      const viaFd = own.length > 0 ? [] : fdInfoLocks(pid, fd.fd, procRoot);
      const row = own[0] ?? (viaFd.length > 0 ? locked[0] : undefined);
      if (row && !held.some((h) => h.path === fd.target)) held.push({ path: fd.target, kind: kindOf(row) });
    }
    if (held.length > 0) out.set(pid, held);
  }
  return out;
}
