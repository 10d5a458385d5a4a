import type { ProcIdentity } from '../../proc/identity.js';
import { ProcTree, type LinkedProcess } from '../../proc/proc-table.js';
import { processAgeS } from '../../proc/read-proc.js';
import type { AgentDirectory } from '../../watchdog/agent-directory.js';
import type { RetestRegistry } from '../../watchdog/retest-registry.js';
import { toCandidate, type Candidate, type CandidateClock } from './candidates.js';
import type { Matcher } from './program.js';
import type { FinishedRun, Owner, RunMember, RunTracker } from './run-tracker.js';
import type { ScannedProcess, ScanResult } from './scanner.js';
import type { RunAlert } from './texts.js';

/** Leftovers listed per finished run. */
export const MAX_LEFTOVERS_PER_RUN = 64;

export interface RunViewInput {
  scan: ScanResult;
  runs: RunTracker;
  clock: CandidateClock;
  matcher: Matcher;
  leftoverGraceS: number;
  agents?: AgentDirectory;
  retests?: RetestRegistry;
}

/** One alert unit: its entity is the run's top pid, its identity the top's starttime. */
export interface RunUnit extends RunAlert {
  pid: number;
  startTicks: number;
  isBlocking: boolean;
  processes: ProcIdentity[];
}

export interface RunView {
  candidates: Candidate[];
  units: RunUnit[];
}

function lineageTree(scan: ScanResult): ProcTree<LinkedProcess> {
  const table = new Map<number, LinkedProcess>();
  const l = scan.lineage;
  for (let i = 0; i + 2 < l.length; i += 3) table.set(l[i]!, { pid: l[i]!, ppid: l[i + 1]!, startTicks: l[i + 2]! });
  for (const c of scan.candidates) if (!table.has(c.pid)) table.set(c.pid, c);
  return new ProcTree(table);
}

function ownerFinder(tree: ProcTree<LinkedProcess>, agents?: AgentDirectory, retests?: RetestRegistry): (top: ProcIdentity) => Owner {
  return (top) => {
    const self = tree.table.get(top.pid) ?? { ...top, ppid: 0 };
    for (const p of [self, ...tree.ancestors(top.pid)]) {
      const retest = retests?.find(p.pid, p.startTicks);
      if (retest) return { kind: 'retest', id: retest.id };
      const agent = agents?.byPid(p.pid);
      if (agent) return { kind: 'agent', runId: agent.runId, task: agent.task, stage: agent.stage };
    }
    return null;
  };
}

/** The gate still runs it and its timeout has not come: the gate stops it, nobody else. */
const isInsideRetest = (owner: Owner, nowMs: number, retests?: RetestRegistry): boolean =>
  owner?.kind === 'retest' && retests?.isInsideTimeout(owner.id, nowMs) === true;

function memberCandidate(m: RunMember, clock: CandidateClock, retests?: RetestRegistry): Candidate {
  const topAgeS = processAgeS(m.run.top.startTicks, clock);
  return toCandidate(m.raw, clock, {
    match: m.raw.match,
    runPid: m.run.top.pid,
    runStartTicks: m.run.top.startTicks,
    isRunTop: m.isTop,
    owner: m.run.owner,
    // a re-test inside its own timeout is the gate's to stop, never blocking
    isBlocking: !isInsideRetest(m.run.owner, clock.nowMs, retests) && topAgeS >= clock.thresholdS,
  });
}

function leftoverCandidates(f: FinishedRun, input: RunViewInput, facts: ReadonlyMap<number, ScannedProcess>): Candidate[] {
  const out: Candidate[] = [];
  for (const id of f.leftovers.slice(0, MAX_LEFTOVERS_PER_RUN)) {
    const p = facts.get(id.pid);
    if (p?.startTicks !== id.startTicks || input.matcher.isExcluded(p.argv)) continue;
    out.push(
      toCandidate(p, input.clock, {
        match: 'leftover',
        runPid: f.run.top.pid,
        runStartTicks: f.run.top.startTicks,
        isRunTop: false,
        owner: f.run.owner,
        isBlocking: f.goneForS >= input.leftoverGraceS && !isInsideRetest(f.run.owner, input.clock.nowMs, input.retests),
      }),
    );
  }
  return out;
}

function unitOf(lead: Candidate, own: Candidate[], processes: ProcIdentity[], f: FinishedRun | null, agents?: AgentDirectory): RunUnit {
  const owner = lead.owner;
  const locks = own.flatMap((c) => c.locks);
  return {
    pid: lead.runPid,
    startTicks: lead.runStartTicks,
    isBlocking: own.some((c) => c.isBlocking),
    lead,
    runPid: lead.runPid,
    processes,
    processPids: processes.map((p) => p.pid),
    leftovers: f ? own : [],
    goneForS: f ? f.goneForS : null,
    owner,
    isOwnerGone: owner?.kind === 'agent' && agents !== undefined && !agents.isListed(owner.runId),
    locks: locks.filter((l, i) => locks.findIndex((x) => x.path === l.path) === i),
    ports: [...new Set(own.flatMap((c) => c.ports))].sort((a, b) => a - b),
  };
}

/**
 * From one scan to what the API lists and what alerts: runs and their members, leftovers of
 * finished runs, owners, and (for candidates only) locks and ports.
 */
export function buildRunView(input: RunViewInput): RunView {
  const tree = lineageTree(input.scan);
  const agentPids = input.agents?.pids() ?? new Set<number>();
  // an agent is watched by agent_hung, never as a test process, whatever its argv says
  const raws = input.scan.candidates.filter((r) => !agentPids.has(r.pid));
  input.runs.forgetRunsToppedBy(agentPids, tree);
  const step = input.runs.step(raws, tree, input.clock.nowMs, ownerFinder(tree, input.agents, input.retests));
  const members = step.members.map((m) => ({ m, c: memberCandidate(m, input.clock, input.retests) }));
  const facts = new Map([...input.scan.watched, ...input.scan.candidates].map((p) => [p.pid, p]));
  const finished = step.finished.map((f) => ({ f, cs: leftoverCandidates(f, input, facts) }));
  const candidates = [...members.map((x) => x.c), ...finished.flatMap((x) => x.cs)].sort((a, b) => b.ageS - a.ageS || a.pid - b.pid);
  const byRun = new Map<RunMember['run'], Candidate[]>();
  for (const { m, c } of members) byRun.set(m.run, [...(byRun.get(m.run) ?? []), c]);
  const units: RunUnit[] = [];
  for (const { m, c } of members) {
    if (m.isTop) units.push(unitOf(c, byRun.get(m.run)!, input.runs.processesOf(m.run, tree), null, input.agents));
  }
  for (const { f, cs } of finished) {
    if (cs.length > 0) units.push(unitOf(cs[0]!, cs, input.runs.processesOf(f.run, tree), f, input.agents));
  }
  return { candidates, units };
}
