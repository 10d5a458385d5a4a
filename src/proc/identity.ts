import type { ProcStat } from './parse-stat.js';

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
