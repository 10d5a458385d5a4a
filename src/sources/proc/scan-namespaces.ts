import { isKernelThreadStat, parseStatusIds } from '../../proc/pid-namespace.js';
import type { NsMember, PidProbe } from '../../watchdog/agent-directory.js';
import { readFileInto, type ScanFs } from './scan-reads.js';

/** What one process keeps of these reads in the scanner's cache: never re-read while it is the same process. */
export interface NsCache {
  /** whether its cgroup names the container id checked last */
  containerCheck?: { id: string; isMember: boolean };
  /** NSpid, read once for a container member; null when unreadable */
  nsPids?: number[] | null;
}

export interface NsReads {
  /** Adds `pid` to `pass.members` when its cgroup names the requested container. */
  noteMember(pass: { containerId: string | null; members: NsMember[] }, pid: number, entry: NsCache): void;
  /** status (Name, PPid, NSpid) and the kernel-thread flag of each asked-for pid. */
  probe(pids: readonly number[]): PidProbe[];
}

/**
 * The scan's namespace reads: a process's cgroup once per process, its NSpid once per member of
 * the requested container, and the asked-for pids' status.
 */
export function createNsReads(fs: ScanFs, root: string): NsReads {
  const textBuf = Buffer.allocUnsafe(8192);
  const readText = (path: string): string | null => {
    const read = readFileInto(fs, path, textBuf);
    return 'error' in read ? null : textBuf.toString('latin1', 0, read.bytes);
  };
  return {
    noteMember(pass, pid, entry) {
      const id = pass.containerId;
      if (id === null) return;
      const dir = `${root}/${pid}`;
      if (entry.containerCheck?.id !== id) entry.containerCheck = { id, isMember: readText(`${dir}/cgroup`)?.includes(id) ?? false };
      if (!entry.containerCheck.isMember) return;
      if (entry.nsPids === undefined) {
        const status = readText(`${dir}/status`);
        entry.nsPids = status === null ? null : (parseStatusIds(status)?.nsPids ?? null);
      }
      if (entry.nsPids && entry.nsPids.length > 0) pass.members.push({ pid, nsPids: entry.nsPids });
    },
    probe(pids) {
      const probes: PidProbe[] = [];
      for (const pid of pids) {
        if (!Number.isSafeInteger(pid) || pid <= 0) continue;
        const status = readText(`${root}/${pid}/status`);
        const ids = status === null ? null : parseStatusIds(status);
        if (ids === null) continue;
        const stat = readText(`${root}/${pid}/stat`);
        const isKernelThread = stat !== null && isKernelThreadStat(stat);
        probes.push({ pid, name: ids.name, ppid: ids.ppid, nsPids: ids.nsPids, isKernelThread });
      }
      return probes;
    },
  };
}
