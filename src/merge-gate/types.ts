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
