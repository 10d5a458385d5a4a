import { readdirSync, readlinkSync, readFileSync, statSync } from 'node:fs';

/** At most this many fds of one process are looked at: a process with 100k sockets is not read whole. */
export const MAX_FDS_PER_PROCESS = 4096;

export interface OpenFd {
  fd: number;
  /** readlink of /proc/<pid>/fd/<n>: a path, `socket:[inode]`, `pipe:[inode]`, `anon_inode:…` */
  target: string;
}

/** The open fds of one process; empty when it is gone or not readable (another user's process). */
export function readFds(pid: number, procRoot = '/proc', max = MAX_FDS_PER_PROCESS): OpenFd[] {
  let names: string[];
  try {
    names = readdirSync(`${procRoot}/${pid}/fd`);
  } catch {
    return [];
  }
  const out: OpenFd[] = [];
  for (const name of names.slice(0, max)) {
    try {
      out.push({ fd: Number(name), target: readlinkSync(`${procRoot}/${pid}/fd/${name}`) });
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** (device, inode) of the file behind an fd, as /proc/locks writes them: `maj:min` in hex and the inode. */
export function fdFileId(pid: number, fd: number, procRoot = '/proc'): { majMin: string; inode: number } | null {
  try {
    const st = statSync(`${procRoot}/${pid}/fd/${fd}`);
    // glibc's dev_t encoding, the one the kernel's new_encode_dev mirrors
    const major = ((st.dev >> 8) & 0xfff) | (Math.floor(st.dev / 2 ** 32) & ~0xfff);
    const minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00);
    return { majMin: `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`, inode: st.ino };
  } catch {
    return null;
  }
}

/** The `lock:` lines of /proc/<pid>/fdinfo/<fd>: the locks held through that very open file. */
export function fdInfoLocks(pid: number, fd: number, procRoot = '/proc'): string[] {
  try {
    return readFileSync(`${procRoot}/${pid}/fdinfo/${fd}`, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('lock:'))
      .map((l) => l.slice(5).trim());
  } catch {
    return [];
  }
}
