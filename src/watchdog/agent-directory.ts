/** An orchestrator agent as the last good envelope listed it. */
export interface AgentInfo {
  runId: string;
  /** as the envelope gives it: a pid in the orchestrator's PID namespace */
  pid: number | null;
  task: string | null;
  stage: string | null;
}

/** How the envelope's pids become this host's. */
export type PidView =
  /** the orchestrator shares the watchdog's PID view: the pids are this host's */
  | { kind: 'shared' }
  /** WATCHDOG_ORCH_CONTAINER, located: its namespace's pids → host pids */
  | { kind: 'translated'; container: string; hostPidOf: ReadonlyMap<number, number> }
  /** WATCHDOG_ORCH_CONTAINER is not running: its namespace, and every agent in it, is gone */
  | { kind: 'stopped'; container: string; status: string }
  /** WATCHDOG_ORCH_CONTAINER could not be located: which host process is an agent is unknown */
  | { kind: 'unknown'; container: string; reason: string };

/** An envelope pid that cannot be the agent's on this host: a wrong or missing WATCHDOG_ORCH_CONTAINER. */
export interface AgentPidWarning {
  /** the key that fixes it */
  key: 'WATCHDOG_ORCH_CONTAINER';
  /** the key's current value */
  value: string;
  /** null when the warning is about every agent (the container cannot be located) */
  runId: string | null;
  pid: number | null;
  message: string;
}

/**
 * The agents of the latest envelope the orchestrator collector parsed, shared with the /proc
 * scan (owners, and pids that are never signalled), with the scan's view of where their pids
 * live on this host. A failed fetch keeps the last list: not knowing the agents must never
 * make one signallable.
 */
export class AgentDirectory {
  private agents: readonly AgentInfo[] = [];
  private updatedAtMs: number | null = null;
  private view: PidView = { kind: 'shared' };
  private warnings: readonly AgentPidWarning[] = [];

  update(agents: readonly AgentInfo[], nowMs: number): void {
    this.agents = agents.map((a) => ({ ...a }));
    this.updatedAtMs = nowMs;
  }

  list(): readonly AgentInfo[] {
    return this.agents;
  }

  /** ms of the envelope the list comes from; null before the first one */
  get updatedAt(): number | null {
    return this.updatedAtMs;
  }

  /** Set by the /proc scan after each pass. */
  setPidView(view: PidView): void {
    this.view = view;
  }

  get pidView(): PidView {
    return this.view;
  }

  /** This host's pid of an envelope pid; null when it has none here (or pid <= 1, never an agent). */
  hostPid(envelopePid: number | null): number | null {
    if (envelopePid === null || envelopePid <= 1) return null;
    if (this.view.kind === 'shared') return envelopePid;
    if (this.view.kind !== 'translated') return null;
    return this.view.hostPidOf.get(envelopePid) ?? null;
  }

  /** The agents' host pids. */
  pids(): Set<number> {
    return new Set(this.agents.map((a) => this.hostPid(a.pid)).filter((p): p is number => p !== null && p > 1));
  }

  byPid(hostPid: number): AgentInfo | undefined {
    return this.agents.find((a) => this.hostPid(a.pid) === hostPid);
  }

  isListed(runId: string): boolean {
    return this.agents.some((a) => a.runId === runId);
  }

  /** Why listed agents cannot be told apart from other host processes right now (nothing may be signalled), or null. */
  unlocatedReason(): string | null {
    if (this.view.kind !== 'unknown' || !this.agents.some((a) => a.pid !== null)) return null;
    return `WATCHDOG_ORCH_CONTAINER=${this.view.container}: ${this.view.reason}`;
  }

  setWarnings(warnings: readonly AgentPidWarning[]): void {
    this.warnings = warnings;
  }

  /** Envelope pids that look wrong on this host (GET /healthz `agent_pid_warnings`). */
  pidWarnings(): readonly AgentPidWarning[] {
    return this.warnings;
  }
}
