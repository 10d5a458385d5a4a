import type { ContainerState, DockerReader } from '../containers/docker-client.js';
import type { AgentDirectory, AgentInfo, AgentPidWarning, PidView } from '../../watchdog/agent-directory.js';
import type { NsMember, PidProbe, PidViewRequest } from './scanner.js';

const KEY = 'WATCHDOG_ORCH_CONTAINER';

/** Where WATCHDOG_ORCH_CONTAINER is, as the Engine said this tick. */
export type OrchLocation =
  | { kind: 'shared' }
  | { kind: 'running'; container: string; id: string; initPid: number }
  | { kind: 'stopped'; container: string; status: string }
  | { kind: 'unknown'; container: string; reason: string };

/** What the scan must read for a location: the container's processes, or the agents' pids themselves. */
export function pidViewRequest(location: OrchLocation, agents: readonly AgentInfo[]): PidViewRequest {
  return {
    containerId: location.kind === 'running' ? location.id : null,
    probePids: location.kind === 'shared' ? agents.map((a) => a.pid).filter((p): p is number => p !== null && p > 1) : [],
  };
}

/**
 * Pure: the container's processes → a map from its namespace's pids to this host's. The level is
 * the container init's depth: NSpid[level] is a process's pid in the container's namespace, also
 * for a process in a namespace nested below it (a sandboxed agent).
 */
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

/** One pass of placing the agents: the request for the scan, and what to do with its answer. */
export interface Placement {
  request: PidViewRequest;
  apply(scan: { members: readonly NsMember[]; probes: readonly PidProbe[] }): AgentPidWarning[];
}

/** The scan's part in agent placement, pass after pass: located, scanned, mapped, warned. */
export function placeAgents(
  location: OrchLocation,
  directory: AgentDirectory,
  opts: { procRoot: string; value: string; debounce: WarningDebounce },
): Placement {
  // the agents as they are now: a list the orchestrator collector replaces during the scan waits for the next pass
  const agents = directory.list();
  return {
    request: pidViewRequest(location, agents),
    apply(scan) {
      const view = pidViewOf(location, scan.members, opts.procRoot);
      directory.setPidView(view);
      const shown = opts.debounce.next(agentPidWarnings(agents, view, scan.probes, opts.value));
      directory.setWarnings(shown);
      return shown;
    },
  };
}

/** WATCHDOG_ORCH_CONTAINER through the Engine: its id and init pid, or why it cannot be located. */
export async function locateOrchestrator(
  container: string,
  docker: DockerReader | undefined,
  signal: AbortSignal,
  describe: (err: unknown) => string,
): Promise<OrchLocation> {
  if (container === '') return { kind: 'shared' };
  if (docker === undefined) return { kind: 'unknown', container, reason: 'no Docker Engine client is configured' };
  let state: ContainerState | null;
  try {
    state = await docker.inspectContainer(container, signal);
  } catch (err) {
    return { kind: 'unknown', container, reason: `the Docker Engine could not be read: ${describe(err)}` };
  }
  if (state === null) return { kind: 'unknown', container, reason: `no container is named "${container}"` };
  if (state.initPid <= 0) return { kind: 'stopped', container, status: state.status };
  return { kind: 'running', container, id: state.id, initPid: state.initPid };
}
