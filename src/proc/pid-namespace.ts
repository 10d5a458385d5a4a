/** What /proc/<pid>/status says about a process's place in the PID namespaces. */
export interface StatusIds {
  /** Name: the comm */
  name: string;
  /** PPid, in the reader's namespace */
  ppid: number;
  /** NSpid: the pid in the reader's namespace, then each nested one down to its own; empty before Linux 4.1. */
  nsPids: number[];
}

/** status is readable without ptrace rights, unlike /proc/<pid>/ns/*. null when it has no PPid. */
export function parseStatusIds(text: string): StatusIds | null {
  const lines = text.split('\n');
  const field = (key: string): string | null => {
    const line = lines.find((l) => l.startsWith(`${key}:`));
    return line === undefined ? null : line.slice(key.length + 1).trim();
  };
  const ppidText = field('PPid');
  if (ppidText === null || !/^\d+$/.test(ppidText)) return null;
  const nsPids = (field('NSpid') ?? '').split(/\s+/).filter(Boolean).map(Number);
  return { name: field('Name') ?? '', ppid: Number(ppidText), nsPids: nsPids.every((n) => Number.isSafeInteger(n) && n > 0) ? nsPids : [] };
}

/** PF_KTHREAD in the flags of /proc/<pid>/stat (field 9): a kernel thread. */
export function isKernelThreadStat(statText: string): boolean {
  const fields = statText.slice(statText.lastIndexOf(')') + 2).split(' ', 7);
  const flags = Number(fields[6]);
  return Number.isSafeInteger(flags) && (flags & 0x00200000) !== 0;
}
