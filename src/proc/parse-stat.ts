/** The fields of /proc/<pid>/stat the watchdog uses (proc(5) numbering in comments). */
export interface ProcStat {
  pid: number;
  /** (2) the executable name, up to 15 bytes; may hold spaces and parentheses. */
  comm: string;
  /** (3) R, S, D, Z, T, ... */
  state: string;
  /** (4) */
  ppid: number;
  /** (5) process group id */
  pgrp: number;
  /** (6) session id */
  session: number;
  /** (14) user-mode CPU time in clock ticks */
  utimeTicks: number;
  /** (15) kernel-mode CPU time in clock ticks */
  stimeTicks: number;
  /** (22) start time in clock ticks after boot; with the pid it identifies the process */
  startTicks: number;
}

/** comm sits between the FIRST `(` and the LAST `)`: a process may name itself `a b ) ( c`. null when malformed. */
export function parseStat(text: string): ProcStat | null {
  const int = (field: string | undefined): number | null => {
    if (field === undefined || !/^-?\d+$/.test(field)) return null;
    const n = Number(field);
    return Number.isSafeInteger(n) ? n : null;
  };
  // fields after the closing `)`: state is field 3, so field n sits at index n - 3
  const IDX = { state: 0, ppid: 1, pgrp: 2, session: 3, utime: 11, stime: 12, starttime: 19 } as const;
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = int(text.slice(0, open).trim());
  // the kernel separates fields with single spaces; stop splitting after starttime
  const rest = text
    .slice(close + 1)
    .trim()
    .split(' ', IDX.starttime + 1);
  const state = rest[IDX.state];
  const ppid = int(rest[IDX.ppid]);
  const pgrp = int(rest[IDX.pgrp]);
  const session = int(rest[IDX.session]);
  const utimeTicks = int(rest[IDX.utime]);
  const stimeTicks = int(rest[IDX.stime]);
  const startTicks = int(rest[IDX.starttime]);
  if (
    pid === null ||
    state === undefined ||
    !/^[A-Za-z]$/.test(state) ||
    ppid === null ||
    pgrp === null ||
    session === null ||
    utimeTicks === null ||
    stimeTicks === null ||
    startTicks === null
  ) {
    return null;
  }
  return { pid, comm: text.slice(open + 1, close), state, ppid, pgrp, session, utimeTicks, stimeTicks, startTicks };
}

/** Zombies (Z) and dying tasks (X, x) are dead even though `kill(pid, 0)` still answers for them. */
export function isRunningState(state: string): boolean {
  return state !== 'Z' && state !== 'X' && state !== 'x';
}
