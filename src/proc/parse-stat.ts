/** The fields of /proc/<pid>/stat the watchdog uses. */
export interface ProcStat {
  pid: number;
  /** up to 15 bytes; may hold spaces and parentheses */
  comm: string;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  utimeTicks: number;
  stimeTicks: number;
  /** clock ticks after boot; with the pid it identifies the process */
  startTicks: number;
}

/** A process as the kernel names it: a pid alone may be reused, (pid, starttime) is not. */
export interface ProcIdentity {
  pid: number;
  startTicks: number;
}

/** `pid:starttime`, the key of maps and sets that must not confuse a reused pid with its predecessor. */
export function identityKey(id: ProcIdentity): string {
  return `${id.pid}:${id.startTicks}`;
}

export function isSameProcess(stat: ProcStat | null | undefined, id: ProcIdentity): stat is ProcStat {
  return stat?.pid === id.pid && stat.startTicks === id.startTicks;
}

/** comm sits between the FIRST `(` and the LAST `)`: a process may name itself `a b ) ( c`. null when malformed. */
export function parseStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  // the fields from state (field 3) on; the kernel separates them with single spaces
  const after = text.slice(close + 1).trim();
  const rest = after.split(' ', 20);
  const int = (field: string | undefined): number => (field !== undefined && /^-?\d+$/.test(field) ? Number(field) : NaN);
  const stat = {
    pid: int(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '',
    ppid: int(rest[1]),
    pgrp: int(rest[2]),
    session: int(rest[3]),
    utimeTicks: int(rest[11]),
    stimeTicks: int(rest[12]),
    startTicks: int(rest[19]),
  };
  const { comm: _comm, state, ...numbers } = stat;
  return /^[A-Za-z]$/.test(state) && Object.values(numbers).every(Number.isSafeInteger) ? stat : null;
}

/** Zombies (Z) and dying tasks (X, x) are dead even though `kill(pid, 0)` still answers for them. */
export function isRunningState(state: string): boolean {
  return state !== 'Z' && state !== 'X' && state !== 'x';
}

/** PF_KTHREAD in the flags of /proc/<pid>/stat (field 9): a kernel thread. */
export function isKernelThreadStat(statText: string): boolean {
  const flags = Number(statText.slice(statText.lastIndexOf(')') + 2).split(' ', 7)[6]);
  return Number.isSafeInteger(flags) && (flags & 0x00200000) !== 0;
}

/** Name, PPid and NSpid of a /proc/<pid>/status (readable without ptrace rights, unlike ns/*); null without PPid. */
export function parseStatusIds(text: string): { name: string; ppid: number; nsPids: number[] } | null {
  const lines = text.split('\n');
  const field = (key: string): string | null =>
    lines
      .find((l) => l.startsWith(`${key}:`))
      ?.slice(key.length + 1)
      .trim() ?? null;
  const ppidText = field('PPid');
  if (ppidText === null || !/^\d+$/.test(ppidText)) return null;
  // NSpid: the pid in the reader's namespace, then each nested one; empty before Linux 4.1
  const nsPids = (field('NSpid') ?? '').split(/\s+/).filter(Boolean).map(Number);
  return { name: field('Name') ?? '', ppid: Number(ppidText), nsPids: nsPids.every((n) => Number.isSafeInteger(n) && n > 0) ? nsPids : [] };
}
