import { redactArgv, truncate } from '../../redact.js';
import type { RawCandidate } from './scanner.js';

/** docs/api.md, /proc/candidates: the cmdline served and alerted is redacted, then cut to this many characters. */
export const CMDLINE_MAX_CHARS = 512;

/**
 * Parents that adopt orphans: init systems and container inits/subreapers. comm is cut to
 * 15 bytes by the kernel, so `containerd-shim-runc-v2` reads as `containerd-shim`.
 */
export const REAPER_PARENTS: ReadonlySet<string> = new Set([
  'init',
  'systemd',
  'tini',
  'dumb-init',
  'docker-init',
  'catatonit',
  's6-svscan',
  's6-supervise',
  'runit',
  'runsvdir',
  'containerd-shim',
]);

/** A matching process as the API, the alerts and the reaper see it. */
export interface Candidate {
  pid: number;
  ppid: number;
  pgrp: number;
  startTicks: number;
  comm: string;
  parentComm: string | null;
  ageS: number;
  cpuS: number;
  /** redacted and truncated */
  cmdline: string;
  isOrphaned: boolean;
  isBlocking: boolean;
}

export interface CandidateClock {
  /** boot time, seconds since the epoch (`btime` of <root>/stat) */
  btimeS: number;
  /** clock ticks per second (CLK_TCK) */
  clkTck: number;
  nowMs: number;
  /** WATCHDOG_PROC_AGE_MIN in seconds */
  thresholdS: number;
}

export function isOrphaned(ppid: number, parentComm: string | null): boolean {
  return ppid === 1 || (parentComm !== null && REAPER_PARENTS.has(parentComm));
}

export function ageSeconds(startTicks: number, c: Pick<CandidateClock, 'btimeS' | 'clkTck' | 'nowMs'>): number {
  return Math.max(0, c.nowMs / 1000 - (c.btimeS + startTicks / c.clkTck));
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

export function toCandidate(raw: RawCandidate, c: CandidateClock): Candidate {
  const ageS = round2(ageSeconds(raw.startTicks, c));
  return {
    pid: raw.pid,
    ppid: raw.ppid,
    pgrp: raw.pgrp,
    startTicks: raw.startTicks,
    comm: raw.comm,
    parentComm: raw.parentComm,
    ageS,
    cpuS: round2((raw.utimeTicks + raw.stimeTicks) / c.clkTck),
    cmdline: truncate(redactArgv(raw.argv), CMDLINE_MAX_CHARS),
    isOrphaned: isOrphaned(raw.ppid, raw.parentComm),
    isBlocking: ageS >= c.thresholdS,
  };
}
