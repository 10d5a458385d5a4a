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
  | { kind: 'shared' }
  | { kind: 'translated'; container: string; hostPidOf: ReadonlyMap<number, number> }
  /** WATCHDOG_ORCH_CONTAINER is not running: its namespace, and every agent in it, is gone */
  | { kind: 'stopped'; container: string; status: string }
  /** WATCHDOG_ORCH_CONTAINER could not be located: which host process is an agent is unknown */
  | { kind: 'unknown'; container: string; reason: string };

/** An envelope pid that cannot be the agent's on this host: a wrong or missing WATCHDOG_ORCH_CONTAINER. */
export interface AgentPidWarning {
  key: 'WATCHDOG_ORCH_CONTAINER';
  value: string;
  /** null when the warning is about every agent (the container cannot be located) */
  runId: string | null;
  pid: number | null;
  message: string;
}

/** What a scan also reads about PID namespaces, to place the orchestrator's agent pids. */
export interface PidViewRequest {
  /** Docker id of the orchestrator's container: its processes are reported with their NSpid. */
  containerId: string | null;
  /** pids whose status is read (the envelope's agent pids, when the orchestrator shares this view). */
  probePids: readonly number[];
}

/** A process of the requested container: its host pid and its NSpid (host pid first, own namespace's last). */
export interface NsMember {
  pid: number;
  nsPids: number[];
}

/** A probed pid as it is now; absent from the result when no process has it. */
export interface PidProbe {
  pid: number;
  name: string;
  ppid: number;
  nsPids: number[];
  isKernelThread: boolean;
}

/** Where WATCHDOG_ORCH_CONTAINER is, as the Engine said this tick. */
export type OrchLocation =
  | { kind: 'shared' }
  | { kind: 'running'; container: string; id: string; initPid: number }
  | { kind: 'stopped'; container: string; status: string }
  | { kind: 'unknown'; container: string; reason: string };

/** One pass of placing the agents: where the orchestrator is, the agents asked about, the scan's request. */
export interface Placement {
  location: OrchLocation;
  agents: readonly AgentInfo[];
  request: PidViewRequest;
}

const KEY = 'WATCHDOG_ORCH_CONTAINER';

/** Pure: the container's pids → host pids. NSpid[init's depth] is the pid in the container's namespace, also for a nested one. */
export function pidViewOf(location: OrchLocation, members: readonly NsMember[], procRoot: string): PidView {
  if (location.kind === 'shared') return { kind: 'shared' };
  const { container } = location;
  if (location.kind === 'unknown') return { kind: 'unknown', container, reason: location.reason };
  if (location.kind === 'stopped') return { kind: 'stopped', container, status: location.status };
  const init = members.find((m) => m.pid === location.initPid);
  if (init === undefined) {
    const reason = `its init (host pid ${location.initPid}) is not among the processes in ${procRoot}: the watchdog needs the host's PID view (pid: host)`;
    return { kind: 'unknown', container, reason };
  }
  const level = init.nsPids.length - 1;
  const hostPidOf = new Map<number, number>();
  for (const m of members) {
    const nsPid = m.nsPids[level];
    if (m.nsPids.length > level && nsPid !== undefined) hostPidOf.set(nsPid, m.pid);
  }
  return { kind: 'translated', container, hostPidOf };
}

const HINT_SHARED = `the orchestrator reports pids of its own PID namespace: if it runs in a container, set ${KEY} to that container's name`;

/** Why an envelope pid looks wrong in the shared view, from its probe; null when it looks like a process that may be the agent. */
function sharedProblem(pid: number, probe: PidProbe | undefined): string | null {
  if (probe === undefined) return `no process has pid ${pid} on this host`;
  if (probe.isKernelThread) return `pid ${pid} is a kernel thread (${probe.name}) on this host`;
  if (probe.nsPids.length > 1) return `pid ${pid} is ${probe.name}, a process of another PID namespace (pid ${probe.nsPids.at(-1)} there)`;
  return null;
}

/** Pure: the envelope pids that cannot be the agents' on this host, each with the key that fixes it. */
export function agentPidWarnings(
  agents: readonly AgentInfo[],
  view: PidView,
  probes: readonly PidProbe[],
  value: string,
): AgentPidWarning[] {
  const warn = (runId: string | null, pid: number | null, message: string): AgentPidWarning => ({ key: KEY, value, runId, pid, message });
  if (view.kind === 'stopped') return [];
  const listed = agents.filter((a): a is AgentInfo & { pid: number } => a.pid !== null);
  if (view.kind === 'unknown') {
    if (listed.length === 0) return [];
    return [
      warn(
        null,
        null,
        `the agents' pids cannot be placed on this host: container ${view.container}: ${view.reason}; nothing is terminated until they can`,
      ),
    ];
  }
  const out: AgentPidWarning[] = [];
  for (const a of listed) {
    const agent = `agent run ${a.runId}`;
    if (a.pid <= 1) out.push(warn(a.runId, a.pid, `${agent}: pid ${a.pid} is the namespace's init, never an agent`));
    else if (view.kind === 'translated') {
      if (!view.hostPidOf.has(a.pid))
        out.push(
          warn(
            a.runId,
            a.pid,
            `${agent}: pid ${a.pid} is no process of container ${view.container}; check that ${KEY} names the orchestrator's container`,
          ),
        );
    } else {
      const problem = sharedProblem(
        a.pid,
        probes.find((p) => p.pid === a.pid),
      );
      if (problem !== null) out.push(warn(a.runId, a.pid, `${agent}: ${problem}; ${HINT_SHARED}`));
    }
  }
  return out;
}

/** A warning is shown once two passes in a row found it: an agent that just exited is not a misconfiguration. */
export class WarningDebounce {
  private seen = new Set<string>();

  constructor(private readonly passes: 1 | 2) {}

  next(current: readonly AgentPidWarning[]): AgentPidWarning[] {
    const shown = this.passes === 1 ? [...current] : current.filter((w) => this.seen.has(w.message));
    this.seen = new Set(current.map((w) => w.message));
    return shown;
  }
}

/** The latest envelope's agents and where their pids live on this host. A failed fetch keeps the last list: an unknown agent is never signallable. */
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

  /** One placement pass: the agents as they are now (a list replaced during the scan waits for the next pass), and what the scan must read. */
  startPlacement(location: OrchLocation): Placement {
    const agents = this.agents;
    return {
      location,
      agents,
      request: {
        containerId: location.kind === 'running' ? location.id : null,
        probePids: location.kind === 'shared' ? agents.map((a) => a.pid).filter((p): p is number => p !== null && p > 1) : [],
      },
    };
  }

  /** The scan's answer to a placement: the pid view and the warnings (shown once two passes in a row found them). */
  place(
    p: Placement,
    scan: { members: readonly NsMember[]; probes: readonly PidProbe[] },
    debounce: WarningDebounce,
    procRoot: string,
  ): void {
    this.view = pidViewOf(p.location, scan.members, procRoot);
    this.warnings = debounce.next(
      agentPidWarnings(p.agents, this.view, scan.probes, p.location.kind === 'shared' ? '' : p.location.container),
    );
  }

  /** A pid view set directly (tests). */
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

  byHostPid(): Map<number, AgentInfo> {
    const out = new Map<number, AgentInfo>();
    for (const a of this.agents) {
      const pid = this.hostPid(a.pid);
      if (pid !== null && pid > 1 && !out.has(pid)) out.set(pid, a);
    }
    return out;
  }

  pids(): Set<number> {
    return new Set(this.byHostPid().keys());
  }

  isListed(runId: string): boolean {
    return this.agents.some((a) => a.runId === runId);
  }

  /** Why listed agents cannot be told apart from other host processes right now (nothing may be signalled), or null. */
  unlocatedReason(): string | null {
    if (this.view.kind !== 'unknown' || !this.agents.some((a) => a.pid !== null)) return null;
    return `WATCHDOG_ORCH_CONTAINER=${this.view.container}: ${this.view.reason}`;
  }

  /** Envelope pids that look wrong on this host (GET /healthz `agent_pid_warnings`). */
  pidWarnings(): readonly AgentPidWarning[] {
    return this.warnings;
  }
}
