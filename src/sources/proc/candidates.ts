import type { HeldLock } from '../../proc/locks.js';
import type { ProcStat } from '../../proc/parse-stat.js';
import { processAgeS } from '../../proc/read-proc.js';
import { redactCommandLine } from '../../redact.js';
import type { Owner } from './run-tracker.js';

/** The cmdline served and alerted is redacted, then cut to this many characters (docs/api.md). */
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

export type CandidateMatch = 'program' | 'cmdline' | 'leftover';

/** A candidate process as the API, the alerts and the reaper see it. */
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
  match: CandidateMatch;
  /** the run's top matching process (itself for a run's top) */
  runPid: number;
  runStartTicks: number;
  /** true for the process that raises the run's alert */
  isRunTop: boolean;
  owner: Owner;
  locks: HeldLock[];
  ports: number[];
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

/** What the run tracker and the owner lookup add to a process. */
export interface CandidateFacts {
  match: CandidateMatch;
  runPid: number;
  runStartTicks: number;
  isRunTop: boolean;
  owner: Owner;
  /** overrides the age rule (a leftover's grace, a re-test inside its timeout) */
  isBlocking?: boolean;
}

export function isOrphaned(ppid: number, parentComm: string | null): boolean {
  return ppid === 1 || (parentComm !== null && REAPER_PARENTS.has(parentComm));
}

export const ageSeconds = processAgeS;

const round2 = (n: number): number => Math.round(n * 100) / 100;

export function toCandidate(
  raw: ProcStat & { argv: string[]; parentComm: string | null; locks: HeldLock[]; ports: number[] },
  c: CandidateClock,
  facts: CandidateFacts,
): Candidate {
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
    cmdline: redactCommandLine(raw.argv, CMDLINE_MAX_CHARS),
    isOrphaned: isOrphaned(raw.ppid, raw.parentComm),
    isBlocking: facts.isBlocking ?? ageS >= c.thresholdS,
    match: facts.match,
    runPid: facts.runPid,
    runStartTicks: facts.runStartTicks,
    isRunTop: facts.isRunTop,
    owner: facts.owner,
    locks: raw.locks,
    ports: raw.ports,
  };
}
