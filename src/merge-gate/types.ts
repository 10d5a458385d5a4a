/** What one run of a command produced (docs/api.md, ProcResult); field names are the wire names. */
export interface ProcResult {
  returncode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timed_out: boolean;
  duration_s: number;
}

export const OUTCOMES = ['pass', 'red', 'timeout', 'lock_busy', 'other', 'skipped'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const DECISIONS = ['merge', 'rollback', 'requeue', 'exhausted'] as const;
export type Decision = (typeof DECISIONS)[number];

/**
 * How the tree is killed, best first: a cgroup v2 `cgroup.kill`; a child-subreaper helper that
 * keeps orphans in the tree; a /proc sweep by (pid, starttime); `single` = only the leader
 * (WATCHDOG_TREE_KILL_ENABLED=false, the old behaviour).
 */
export const KILL_STRATEGIES = ['cgroup', 'subreaper', 'proc-sweep', 'single'] as const;
export type KillStrategy = (typeof KILL_STRATEGIES)[number];

export interface RetestRequest {
  repo: string;
  branch: string;
  cwd: string;
  command: string[];
  timeout_s?: number;
  validated_sha?: string;
}

export type RetestStatus = 'queued' | 'running' | 'done';

export interface RetestRun {
  id: string;
  repo: string;
  branch: string;
  status: RetestStatus;
  outcome?: Outcome;
  decision?: Decision;
  returncode?: number | null;
  duration_s?: number;
  attempt: number;
  started_at?: string;
  finished_at?: string;
  queued_at: string;
  signal?: string | null;
  strategy?: KillStrategy;
  /** Set on a `requeue`d run: the id of the attempt that follows it. */
  requeued_as?: string;
  /** Set on attempts after the first: the id of the attempt before. */
  previous_id?: string;
}

export type OutcomeCounts = Record<Outcome, number>;

export interface MergeGateCounters {
  runs_total: number;
  running: number;
  queued: number;
  outcomes: OutcomeCounts;
  infra_requeues: number;
  infra_exhausted: number;
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

/** Who a re-test runs as (resolved by the gate; never the watchdog's own identity). */
export interface RunAs {
  uid: number;
  gid: number;
}
