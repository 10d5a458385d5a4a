/** What one run of a command produced (docs/api.md); field names are the wire names, shared with `run --json`. */
export interface ProcResult {
  returncode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timed_out: boolean;
  duration_s: number;
}

export const OUTCOMES = ['pass', 'red', 'timeout', 'lock_busy', 'infra', 'other', 'skipped', 'cancelled'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** `repost`: shutdown cut the run and, without a state file, nothing re-queues it; the caller posts it again. */
export const DECISIONS = ['merge', 'rollback', 'requeue', 'exhausted', 'repost'] as const;
export type MergeDecision = (typeof DECISIONS)[number];

/**
 * How the tree is killed, best first: a cgroup v2 `cgroup.kill`; a child-subreaper helper that
 * keeps orphans in the tree; a /proc sweep by (pid, starttime); `single` = only the leader
 * (WATCHDOG_TREE_KILL_ENABLED=false, the old behaviour).
 */
export const KILL_STRATEGIES = ['cgroup', 'subreaper', 'proc-sweep', 'single'] as const;
export type KillStrategy = (typeof KILL_STRATEGIES)[number];

/**
 * What classify needs from a finished run beyond its ProcResult. The runner's report carries
 * these fields; each is optional here so an older report (or the CLI's) still classifies.
 */
export interface RunEvidence {
  result: ProcResult;
  /** The command could not start (ENOENT, EACCES, ...). */
  spawnError?: string | null;
  /** The runner (timeout, cancel, shutdown) sent the signal that ended the command. */
  killedByGate?: boolean;
  /** The kernel's OOM killer ended a member (cgroup memory.events oom_kill). */
  oomKilled?: boolean;
  aborted?: boolean;
  receipt?: KillReceipt | null;
}

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

/** One process the runner signalled, in the runner's own (camelCase) model. */
export interface SignalledProcess {
  pid: number;
  comm: string;
  /** The strongest signal it got (SIGKILL once the grace ran out). */
  signal: string;
  /** Epoch ms of that signal. */
  atMs: number;
}

/** What the kill did: every process signalled, and how many of them are confirmed gone. */
export interface KillReceipt {
  strategy: KillStrategy;
  processes: SignalledProcess[];
  confirmedDead: number;
  /** Members that could not be killed (a task stuck in D state, a pid we may not signal): never silent. */
  survivors: { pid: number; comm: string }[];
}

/** The receipt at the JSON edge (`run --json`, RetestRun.receipt). */
export interface ReceiptJson {
  strategy: KillStrategy;
  processes: { pid: number; comm: string; signal: string; at: string }[];
  confirmed_dead: number;
  survivors: { pid: number; comm: string }[];
}

export function receiptToJson(receipt: KillReceipt): ReceiptJson {
  return {
    strategy: receipt.strategy,
    processes: receipt.processes.map((p) => ({ pid: p.pid, comm: p.comm, signal: p.signal, at: new Date(p.atMs).toISOString() })),
    confirmed_dead: receipt.confirmedDead,
    survivors: receipt.survivors.map((s) => ({ pid: s.pid, comm: s.comm })),
  };
}

/**
 * The facts about a run that are not a verdict on the branch (the `infra` outcome): classify
 * reads them beside the ProcResult.
 */
export interface RunnerFacts {
  /** Set when the command could not start: ENOENT, EACCES, EINVAL, ... (null once it ran). */
  spawnError: string | null;
  /** The runner itself signalled the command (timeout, abort, the helper's death): its SIGKILL is ours. */
  killedByGate: boolean;
  /** The run cgroup's memory.events counted an oom_kill (only where the memory controller is on). */
  oomKilled: boolean;
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

/** Who a re-test runs as (resolved by the gate; never the watchdog's own identity). */
export interface RunAs {
  uid: number;
  gid: number;
}
