/** An orchestrator agent as the last good envelope listed it; `pid` is in the orchestrator's PID namespace. */
export interface AgentInfo {
  runId: string;
  pid: number | null;
  task: string | null;
  stage: string | null;
}

/** Where WATCHDOG_ORCH_CONTAINER is, as the Engine said this tick. */
export type OrchLocation =
  | { kind: 'shared' }
  | { kind: 'running'; container: string; id: string; initPid: number }
  /** not running: its namespace, and every agent in it, is gone */
  | { kind: 'stopped'; container: string; status: string }
  /** could not be located: which host process is an agent is unknown */
  | { kind: 'unknown'; container: string; reason: string };

/** How the envelope's pids become this host's. */
export type PidView =
  Exclude<OrchLocation, { kind: 'running' }> | { kind: 'translated'; container: string; hostPidOf: ReadonlyMap<number, number> };

/** An envelope pid that cannot be the agent's on this host (a wrong or missing WATCHDOG_ORCH_CONTAINER); runId null: every agent. */
export interface AgentPidWarning {
  key: 'WATCHDOG_ORCH_CONTAINER';
  value: string;
  runId: string | null;
  pid: number | null;
  message: string;
}

/** What a scan also reads about PID namespaces: the orchestrator's container (its processes with their NSpid), and pids whose status is read. */
export interface PidViewRequest {
  containerId: string | null;
  probePids: readonly number[];
}

/** A process of the requested container: its host pid and its NSpid (host pid first, own namespace's last). */
export interface NsMember {
  pid: number;
  nsPids: number[];
}

/** A probed pid as it is now; absent from the result when no process has it. */
export interface PidProbe extends NsMember {
  name: string;
  ppid: number;
  isKernelThread: boolean;
}

const KEY = 'WATCHDOG_ORCH_CONTAINER';
const HINT_SHARED = `the orchestrator reports pids of its own PID namespace: if it runs in a container, set ${KEY} to that container's name`;

/** Pure: the container's pids → host pids. NSpid[init's depth] is the pid in the container's namespace, also for a nested one. */
export function pidViewOf(location: OrchLocation, members: readonly NsMember[], procRoot: string): PidView {
  if (location.kind !== 'running') return location;
  const { container } = location;
  const init = members.find((m) => m.pid === location.initPid);
  if (init === undefined) {
    const reason = `its init (host pid ${location.initPid}) is not among the processes in ${procRoot}: the watchdog needs the host's PID view (pid: host)`;
    return { kind: 'unknown', container, reason };
  }
  const level = init.nsPids.length - 1;
  const hostPidOf = new Map<number, number>();
  for (const m of members) {
    const nsPid = m.nsPids[level];
    if (nsPid !== undefined) hostPidOf.set(nsPid, m.pid);
  }
  return { kind: 'translated', container, hostPidOf };
}

/** Why an envelope pid cannot be the agent's on this host, with the hint that fixes it; null when it may be. */
function pidProblem(pid: number, view: PidView, probes: readonly PidProbe[]): string | null {
  if (pid <= 1) return `pid ${pid} is the namespace's init, never an agent`;
  if (view.kind === 'translated') {
    if (view.hostPidOf.has(pid)) return null;
    return `pid ${pid} is no process of container ${view.container}; check that ${KEY} names the orchestrator's container`;
  }
  const probe = probes.find((p) => p.pid === pid);
  if (probe === undefined) return `no process has pid ${pid} on this host; ${HINT_SHARED}`;
  if (probe.isKernelThread) return `pid ${pid} is a kernel thread (${probe.name}) on this host; ${HINT_SHARED}`;
  if (probe.nsPids.length <= 1) return null;
  return `pid ${pid} is ${probe.name}, a process of another PID namespace (pid ${probe.nsPids.at(-1)} there); ${HINT_SHARED}`;
}

/** Pure: the envelope pids that cannot be the agents' on this host, each with the key that fixes it. */
export function agentPidWarnings(
  agents: readonly AgentInfo[],
  view: PidView,
  probes: readonly PidProbe[],
  value: string,
): AgentPidWarning[] {
  const warn = (runId: string | null, pid: number | null, message: string): AgentPidWarning => ({ key: KEY, value, runId, pid, message });
  const listed = agents.filter((a): a is AgentInfo & { pid: number } => a.pid !== null);
  if (view.kind === 'stopped' || listed.length === 0) return [];
  if (view.kind === 'unknown') {
    const where = `container ${view.container}: ${view.reason}`;
    return [warn(null, null, `the agents' pids cannot be placed on this host: ${where}; nothing is terminated until they can`)];
  }
  return listed.flatMap((a) => {
    const problem = pidProblem(a.pid, view, probes);
    return problem === null ? [] : [warn(a.runId, a.pid, `agent run ${a.runId}: ${problem}`)];
  });
}

/** The latest envelope's agents and where their pids live on this host. A failed fetch keeps the last list: an unknown agent is never signallable. */
export class AgentDirectory {
  listed: readonly AgentInfo[] = [];
  pidView: PidView = { kind: 'shared' };
  /** Envelope pids that look wrong on this host (GET /healthz `agent_pid_warnings`). */
  pidWarnings: readonly AgentPidWarning[] = [];
  /** What the last placement found: debounced, a warning is shown once two passes in a row found it (an agent may just have exited). */
  private found = new Set<string>();

  update(agents: readonly AgentInfo[]): void {
    this.listed = agents.map((a) => ({ ...a }));
  }

  /** What the scan must read to place the agents listed now, and `place` for its answer (a list replaced meanwhile waits for the next pass). */
  startPlacement(location: OrchLocation, procRoot: string, isDebounced = true) {
    const agents = this.listed;
    const request: PidViewRequest = {
      containerId: location.kind === 'running' ? location.id : null,
      probePids: location.kind === 'shared' ? agents.map((a) => a.pid).filter((p): p is number => p !== null && p > 1) : [],
    };
    const place = (scan: { members: readonly NsMember[]; probes: readonly PidProbe[] }): void => {
      this.pidView = pidViewOf(location, scan.members, procRoot);
      const found = agentPidWarnings(agents, this.pidView, scan.probes, location.kind === 'shared' ? '' : location.container);
      this.pidWarnings = isDebounced ? found.filter((w) => this.found.has(w.message)) : found;
      this.found = new Set(found.map((w) => w.message));
    };
    return { request, place };
  }

  /** The agents by this host's pid; one without a pid here (or pid <= 1, never an agent) is left out. */
  byHostPid(): Map<number, AgentInfo> {
    const view = this.pidView;
    const out = new Map<number, AgentInfo>();
    for (const a of this.listed) {
      if (a.pid === null || a.pid <= 1) continue;
      const pid = view.kind === 'shared' ? a.pid : view.kind === 'translated' ? view.hostPidOf.get(a.pid) : undefined;
      if (pid !== undefined && pid > 1 && !out.has(pid)) out.set(pid, a);
    }
    return out;
  }

  /** Why listed agents cannot be told apart from other host processes right now (nothing may be signalled), or null. */
  unlocatedReason(): string | null {
    if (this.pidView.kind !== 'unknown' || !this.listed.some((a) => a.pid !== null)) return null;
    return `${KEY}=${this.pidView.container}: ${this.pidView.reason}`;
  }
}
