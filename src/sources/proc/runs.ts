import { identityKey, type ProcIdentity } from '../../proc/parse-stat.js';
import { LineageTree } from '../../proc/proc-table.js';
import type { AgentInfo } from '../../watchdog/agent-directory.js';
import type { MatchedProcess } from './scanner.js';

/** Who started a run: an orchestrator agent, a merge-gate re-test, or nobody known. */
export type Owner = { kind: 'agent'; runId: string; task: string | null; stage: string | null } | { kind: 'retest'; id: string } | null;

export type CandidateMatch = 'program' | 'cmdline' | 'leftover';

/** A process of a run as GET /proc/candidates lists it; `run`: the run's top matching process (itself for the top). */
export interface Candidate extends Pick<
  MatchedProcess,
  'pid' | 'ppid' | 'pgrp' | 'startTicks' | 'comm' | 'parentComm' | 'locks' | 'ports'
> {
  ageS: number;
  cpuS: number;
  /** redacted and truncated */
  cmdline: string;
  isOrphaned: boolean;
  isBlocking: boolean;
  match: CandidateMatch;
  run: ProcIdentity;
  owner: Owner;
}

/** One proc_blocking alert: a run (its top and what runs below it) or the leftovers of a finished one. */
export interface RunAlert extends Pick<Candidate, 'isBlocking' | 'locks' | 'ports'> {
  /** its pid is the alert's entity, its starttime the identity behind it */
  top: ProcIdentity;
  /** the top (a live run) or the first leftover (a finished one) */
  lead: Candidate;
  /** every live process of the run: what the stop command names and a terminate stops */
  processes: ProcIdentity[];
  /** a finished run's listed leftovers; empty while the run lives */
  leftovers: Candidate[];
  /** seconds since the top is gone; null while the run lives */
  goneForS: number | null;
  /** the owner is an agent no longer in the envelope */
  isOwnerGone: boolean;
}

/** Processes remembered per run: a fork bomb must not grow the memory without bound. */
export const MAX_REMEMBERED_PER_RUN = 2048;

export interface RunRecord {
  top: ProcIdentity;
  owner: Owner;
  /** descendants seen while the run was alive and still alive, by identity key */
  members: Map<string, ProcIdentity>;
  /** ms when the top was first seen gone; null while it runs */
  goneAtMs: number | null;
}

/** The matching processes with their runs, and the finished runs whose remembered descendants still live. */
export interface RunStep {
  members: { raw: MatchedProcess; run: RunRecord; isTop: boolean }[];
  finished: { run: RunRecord; leftovers: ProcIdentity[]; goneForS: number }[];
}

/** Who can own a run this tick: the listed agents by host pid, running re-tests' ids by their root's identity key. */
export interface Owners {
  agents: ReadonlyMap<number, AgentInfo>;
  retests: ReadonlyMap<string, string>;
}

/** One run, one alert: a matching process below another one is a member of its run, whose top is the `run_pid`. A live run's
 * descendants are remembered by (pid, starttime): whatever survives the top is a leftover, whatever its command line says. */
export class RunTracker {
  private readonly runs = new Map<string, RunRecord>();
  /** identity key of a remembered member -> its run's key */
  private readonly memberOf = new Map<string, string>();
  /** the processes of the last step by parent links, from the scan's lineage */
  private readonly tree = new LineageTree();

  /** One scan's lineage ((pid, ppid, starttime) of every process, flat) and matching processes. */
  step(lineage: ArrayLike<number>, matched: readonly MatchedProcess[], nowMs: number, owners: Owners): RunStep {
    this.tree.reset(lineage);
    // runs topped by an agent the envelope lists now (seen before it was listed) were never test runs
    for (const [key, run] of this.runs) if (owners.agents.has(run.top.pid) && this.isLive(run.top)) this.forget(key, run);
    // an agent is watched by agent_hung, never as a test process, whatever its argv says
    const raws = matched.filter((p) => !owners.agents.has(p.pid));
    const matching = new Map(raws.map((r) => [r.pid, r]));
    const members: RunStep['members'] = [];
    const liveRuns = new Set<string>();
    const isRunning = (run: RunRecord): boolean => matching.get(run.top.pid)?.startTicks === run.top.startTicks;
    for (const raw of raws) {
      const known = this.runs.get(this.memberOf.get(identityKey(raw)) ?? '');
      if (known && (known.goneAtMs !== null || !isRunning(known))) continue; // a leftover of a finished run
      const run = known ?? this.runFor(this.topOf(raw, matching), owners);
      liveRuns.add(identityKey(run.top));
      members.push({ raw, run, isTop: run.top.pid === raw.pid && run.top.startTicks === raw.startTicks });
    }
    const finished: RunStep['finished'] = [];
    for (const [key, run] of this.runs) {
      for (const [m, id] of run.members) {
        if (this.isLive(id)) continue;
        run.members.delete(m);
        if (this.memberOf.get(m) === key) this.memberOf.delete(m);
      }
      if (liveRuns.has(key)) {
        run.goneAtMs = null;
        this.remember(key, run);
        continue;
      }
      run.goneAtMs ??= nowMs;
      const leftovers = [...run.members.values()].filter((id) => !(id.pid === run.top.pid && id.startTicks === run.top.startTicks));
      if (leftovers.length === 0) this.forget(key, run);
      else finished.push({ run, leftovers, goneForS: (nowMs - run.goneAtMs) / 1000 });
    }
    return { members, finished };
  }

  /** (pid, starttime) of every remembered member, flat: the scan reports on them while they live. */
  watched(): number[] {
    const out: number[] = [];
    for (const run of this.runs.values()) for (const m of run.members.values()) out.push(m.pid, m.startTicks);
    return out;
  }

  /** The live processes of a run: its top (while alive) and every remembered or current descendant. */
  processesOf(run: RunRecord): ProcIdentity[] {
    const out = new Map<string, ProcIdentity>();
    if (this.isLive(run.top)) {
      out.set(identityKey(run.top), run.top);
      for (const d of this.tree.descendants(run.top.pid)) out.set(identityKey(d), { pid: d.pid, startTicks: d.startTicks });
    }
    for (const [key, id] of run.members) out.set(key, id);
    return [...out.values()];
  }

  startOf(pid: number): number | undefined {
    return this.tree.startOf(pid);
  }

  private isLive(id: ProcIdentity): boolean {
    return this.startOf(id.pid) === id.startTicks;
  }

  /** The highest matching ancestor (or the process itself): the run's top. */
  private topOf(raw: MatchedProcess, matching: ReadonlyMap<number, MatchedProcess>): ProcIdentity {
    let top: ProcIdentity = { pid: raw.pid, startTicks: raw.startTicks };
    for (const a of this.tree.ancestors(raw.pid)) {
      const m = matching.get(a.pid);
      if (m?.startTicks === a.startTicks) top = { pid: m.pid, startTicks: m.startTicks };
    }
    return top;
  }

  private runFor(top: ProcIdentity, owners: Owners): RunRecord {
    const key = identityKey(top);
    const run = this.runs.get(key) ?? { top, owner: null, members: new Map(), goneAtMs: null };
    this.runs.set(key, run);
    run.owner ??= this.ownerOf(top, owners);
    return run;
  }

  /** A registered re-test root or a listed agent at the run's top or above it. */
  private ownerOf(top: ProcIdentity, owners: Owners): Owner {
    for (const p of [top, ...this.tree.ancestors(top.pid)]) {
      const retest = owners.retests.get(identityKey(p));
      if (retest !== undefined) return { kind: 'retest', id: retest };
      const agent = owners.agents.get(p.pid);
      if (agent) return { kind: 'agent', runId: agent.runId, task: agent.task, stage: agent.stage };
    }
    return null;
  }

  private remember(runKey: string, run: RunRecord): void {
    for (const d of this.tree.descendants(run.top.pid)) {
      if (run.members.size >= MAX_REMEMBERED_PER_RUN) break;
      const key = identityKey(d);
      if (run.members.has(key)) continue;
      run.members.set(key, { pid: d.pid, startTicks: d.startTicks });
      this.memberOf.set(key, runKey);
    }
  }

  private forget(key: string, run: RunRecord): void {
    for (const m of run.members.keys()) if (this.memberOf.get(m) === key) this.memberOf.delete(m);
    this.runs.delete(key);
  }
}
