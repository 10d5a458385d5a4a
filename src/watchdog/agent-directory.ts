/** An orchestrator agent as the last good envelope listed it. */
export interface AgentInfo {
  runId: string;
  pid: number | null;
  task: string | null;
  stage: string | null;
}

/**
 * The agents of the latest envelope the orchestrator collector parsed, shared with the /proc
 * scan (owners, and pids that are never signalled). A failed fetch keeps the last list: not
 * knowing the agents must never make one signallable.
 */
export class AgentDirectory {
  private agents: readonly AgentInfo[] = [];
  private updatedAtMs: number | null = null;

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

  pids(): Set<number> {
    return new Set(this.agents.map((a) => a.pid).filter((p): p is number => p !== null && p > 1));
  }

  byPid(pid: number): AgentInfo | undefined {
    return this.agents.find((a) => a.pid === pid);
  }

  isListed(runId: string): boolean {
    return this.agents.some((a) => a.runId === runId);
  }
}
