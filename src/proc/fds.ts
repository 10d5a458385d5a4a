import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { orElse } from './read-proc.js';

/** The open fds of one process (at most 4096: 100k sockets are not read whole); empty when gone or not readable. */
export function readFds(pid: number, procRoot = '/proc', max = 4096): { fd: number; target: string }[] {
  const out: { fd: number; target: string }[] = [];
  for (const name of orElse(() => readdirSync(`${procRoot}/${pid}/fd`), []).slice(0, max)) {
    // a path, `socket:[inode]`, `pipe:[inode]`, `anon_inode:…`; null: closed meanwhile
    const target = orElse(() => readlinkSync(`${procRoot}/${pid}/fd/${name}`), null);
    if (target !== null) out.push({ fd: Number(name), target });
  }
  return out;
}

/** (device, inode) of the file behind an fd as /proc/locks writes them: `maj:min:inode`, maj and min in hex. */
function fdFileId(pid: number, fd: number, procRoot: string): string | null {
  const st = orElse(() => statSync(`${procRoot}/${pid}/fd/${fd}`), null);
  if (st === null) return null;
  // glibc's dev_t encoding, the one the kernel's new_encode_dev mirrors
  const major = ((st.dev >> 8) & 0xfff) | (Math.floor(st.dev / 2 ** 32) & ~0xfff);
  const minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino}`;
}

/** The `lock:` lines of /proc/<pid>/fdinfo/<fd>: the locks held through that very open file. */
function fdInfoLocks(pid: number, fd: number, procRoot: string): string[] {
  const lines = orElse(() => readFileSync(`${procRoot}/${pid}/fdinfo/${fd}`, 'utf8'), '').split('\n');
  return lines.filter((l) => l.startsWith('lock:')).map((l) => l.slice(5).trim());
}

/** A held row of /proc/locks (blocked waiters, `->`, are left out); pid -1 for OFD locks. */
export interface LockRow {
  type: string;
  access: string;
  pid: number;
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

/** /proc/locks joined to the fds of `pids` on (device, inode); held when it names the pid or fdinfo lists it (a forked flock names the parent). */
export function readHeldLocks(pids: Iterable<number>, procRoot = '/proc'): Map<number, HeldLock[]> {
  const out = new Map<number, HeldLock[]>();
  const byFile = new Map<string, LockRow[]>();
  for (const row of parseLocks(orElse(() => readFileSync(`${procRoot}/locks`, 'utf8'), ''))) {
    const key = `${row.majMin}:${row.inode}`;
    byFile.set(key, [...(byFile.get(key) ?? []), row]);
  }
  for (const pid of byFile.size > 0 ? pids : []) {
    const held: HeldLock[] = [];
    for (const fd of readFds(pid, procRoot)) {
      const locked = fd.target.startsWith('/') ? byFile.get(fdFileId(pid, fd.fd, procRoot) ?? '') : undefined;
      if (!locked) continue;
      const row = locked.find((r) => r.pid === pid) ?? (fdInfoLocks(pid, fd.fd, procRoot).length > 0 ? locked[0] : undefined);
      const kind = row && `${row.type === 'OFDLCK' ? 'ofd' : row.type.toLowerCase()} ${row.access.toLowerCase()}`;
      if (kind && !held.some((h) => h.path === fd.target)) held.push({ path: fd.target, kind });
    }
    if (held.length > 0) out.set(pid, held);
  }
  return out;
}

/** LISTEN rows of /proc/net/tcp or tcp6: socket inode -> local port. */
export function parseListening(text: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== '0A') continue;
    const port = parseInt(f[1]!.slice(f[1]!.lastIndexOf(':') + 1), 16);
    const inode = Number(f[9]);
    if (Number.isInteger(port) && inode > 0) out.set(inode, port);
  }
  return out;
}

/** LISTEN rows of each network namespace's tcp/tcp6 (read once) joined to the `socket:[inode]` fds of `pids`. */
export function readListeningPorts(pids: Iterable<number>, procRoot = '/proc'): Map<number, number[]> {
  const out = new Map<number, number[]>();
  const byNamespace = new Map<string, Map<number, number>>();
  for (const pid of pids) {
    const sockets = readFds(pid, procRoot).flatMap((fd) => /^socket:\[(\d+)\]$/.exec(fd.target)?.[1] ?? []);
    if (sockets.length === 0) continue;
    const ns = orElse(() => readlinkSync(`${procRoot}/${pid}/ns/net`), `pid:${pid}`);
    let listening = byNamespace.get(ns);
    if (!listening) {
      listening = new Map();
      for (const file of ['tcp', 'tcp6']) {
        // '' when there is no IPv6, or the process is gone
        const text = orElse(() => readFileSync(`${procRoot}/${pid}/net/${file}`, 'utf8'), '');
        for (const [inode, port] of parseListening(text)) listening.set(inode, port);
      }
      byNamespace.set(ns, listening);
    }
    const ports = [...new Set(sockets.flatMap((s) => listening.get(Number(s)) ?? []))].sort((a, b) => a - b);
    if (ports.length > 0) out.set(pid, ports);
  }
  return out;
}
