import type { RunAs } from '../runner/account.js';
import type { RunReport } from '../runner/run.js';
import type { KillReceipt } from '../runner/tree-kill.js';
import type { KillStrategy } from '../runner/tree-tracker.js';

export const OUTCOMES = ['pass', 'red', 'timeout', 'lock_busy', 'infra', 'other', 'skipped', 'cancelled'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** `repost`: shutdown cut the run and, without a state file, nothing re-queues it; the caller posts it again. */
export const DECISIONS = ['merge', 'rollback', 'requeue', 'exhausted', 'repost'] as const;
export type MergeDecision = (typeof DECISIONS)[number];

/** What classify needs of a finished run: the runner's report (a partial one classifies too: the CLI's, a test's). */
export type RunEvidence = Pick<RunReport, 'result'> & Partial<Pick<RunReport, 'spawnError' | 'killedByGate' | 'oomKilled' | 'aborted'>>;

/** A re-test as the gate holds it; routes/merge-gate.ts maps it to the snake_case wire body. */
export interface RetestRequest {
  repo: string;
  branch: string;
  cwd: string;
  command: string[];
  timeoutS?: number;
  validatedSha?: string;
  /** Added to the account's own environment (accountEnv); checked by requestEnvProblem. */
  env?: Record<string, string>;
}

/** RunAs with the account name, for RetestRun and messages. */
export interface RunAsUser extends RunAs {
  user: string;
  /** Who owned cwd when the account was fixed: at start it must still (run-as.ts recheckCwd). */
  cwdUid: number;
}

export type RetestStatus = 'queued' | 'running' | 'done';
export type WaitingFor = 'cpu_pressure' | 'backoff';

/** The pressure a run ran under: stalled shares of its wall time (0..1) and the peak PSI cpu some avg10 (percent). */
export interface PressureEvidence {
  cpuStalledShare: number | null;
  memoryStalledShare: number | null;
  cpuSomeAvg10Peak: number | null;
}

export type KnownAs = 'blocking' | 'leftover' | 'candidate';

export interface LockHolder {
  pid: number;
  /** redacted and truncated */
  cmdline: string;
  ageS: number;
  /** How the /proc scan knows the process, if it does. */
  knownAs: KnownAs | null;
  /** Why it counts: it holds the named lock file open or locked, or works inside the re-test's cwd. */
  via: 'lock' | 'open' | 'cwd';
}

export interface RetestRun {
  id: string;
  repo: string;
  branch: string;
  status: RetestStatus;
  outcome?: Outcome;
  decision?: MergeDecision;
  returncode?: number | null;
  signal?: string | null;
  durationS?: number;
  attempt: number;
  /** ms since the epoch */
  queuedAt: number;
  startedAt?: number;
  finishedAt?: number;
  strategy?: KillStrategy;
  /** With decision requeue: the id of the attempt that follows it. */
  requeuedAs?: string;
  /** On attempts after the first: the id of the attempt before. */
  previousId?: string;
  /** Why a queued run has not started yet. */
  waiting?: WaitingFor | null;
  /** With waiting cpu_pressure: the cpu pressure seen last (percent). */
  waitingValue?: number;
  /** ms since the epoch: the back-off of a re-queue ends here. */
  notBefore?: number;
  /** Set when the run started although the CPU was still starved (the pressure wait ran out). */
  startedUnderPressure?: boolean;
  pressure?: PressureEvidence;
  lockHolders?: LockHolder[];
  receipt?: KillReceipt;
  runAs?: { uid: number; user: string };
  /** Why the gate itself cancelled the run (its cwd changed owner, its account is gone). */
  reason?: string;
}

export type OutcomeCounts = Record<Outcome, number>;

export interface MergeGateCounters {
  runsTotal: number;
  running: number;
  queued: number;
  outcomes: OutcomeCounts;
  infraRequeues: number;
  infraExhausted: number;
}

/**
 * A running attempt's tree as the runner started it: saved with the queue, so a restart after
 * kill -9 ends exactly what the dead watchdog left before it runs the attempt again.
 */
export interface StartedTree {
  /** The run cgroup (strategy `cgroup`), or null. */
  cgroup: string | null;
  /** The process the runner spawned (the command, or the subreaper helper over it) by (pid, starttime). */
  root: { pid: number; startTicks: number };
  /** /proc/sys/kernel/random/boot_id when it started: after a reboot the root names nothing. */
  boot: string | null;
}
