import { identityKey, type ProcIdentity } from '../../proc/identity.js';
import type { LinkedProcess, ProcTree } from '../../proc/proc-table.js';
import type { MatchedProcess } from './scanner.js';

/** Who started a run: an orchestrator agent, a merge-gate re-test, or nobody known. */
export type Owner = { kind: 'agent'; runId: string; task: string | null; stage: string | null } | { kind: 'retest'; id: string } | null;

/** Processes remembered per run: a fork bomb must not grow the memory without bound. */
export const MAX_REMEMBERED_PER_RUN = 2048;

export interface RunRecord {
  top: ProcIdentity;
  owner: Owner;
  /** descendants seen while the run was alive, by identity key */
  members: Map<string, ProcIdentity>;
  /** ms when the top process was first seen gone; null while it runs */
  goneAtMs: number | null;
}

/** A matching process and the run it belongs to. */
export interface RunMember {
  raw: MatchedProcess;
  run: RunRecord;
  isTop: boolean;
}

/** A finished run whose remembered descendants still live. */
export interface FinishedRun {
  run: RunRecord;
  leftovers: ProcIdentity[];
  goneForS: number;
}

export interface RunStep {
  members: RunMember[];
  finished: FinishedRun[];
}

const isLive = (tree: ProcTree<LinkedProcess>, id: ProcIdentity): boolean => tree.table.get(id.pid)?.startTicks === id.startTicks;

/**
 * One run, one alert: a matching process below another matching process is a member of that
 * run; the run's top is its `run_pid`. While a run lives its descendants are remembered by
 * (pid, starttime), so whatever survives the top (re-parented to init or a subreaper) is a
 * leftover of that run, whatever its own command line says.
 */
export class RunTracker {
  private readonly runs = new Map<string, RunRecord>();
  /** identity key of a remembered member -> its run's key */
  private readonly memberOf = new Map<string, string>();

  step(raws: readonly MatchedProcess[], tree: ProcTree<LinkedProcess>, nowMs: number, ownerOf: (top: ProcIdentity) => Owner): RunStep {
    const matching = new Map(raws.map((r) => [r.pid, r]));
    const members: RunMember[] = [];
    const liveRuns = new Set<string>();
    const isRunning = (run: RunRecord): boolean => matching.get(run.top.pid)?.startTicks === run.top.startTicks;
    for (const raw of raws) {
      const known = this.runs.get(this.memberOf.get(identityKey(raw)) ?? '');
      if (known && (known.goneAtMs !== null || !isRunning(known))) continue; // a leftover of a finished run
      const top = known ?? this.runFor(this.topOf(raw, matching, tree), ownerOf);
      liveRuns.add(identityKey(top.top));
      members.push({ raw, run: top, isTop: top.top.pid === raw.pid && top.top.startTicks === raw.startTicks });
    }
    for (const key of liveRuns) this.remember(this.runs.get(key)!, tree);
    const finished: FinishedRun[] = [];
    for (const [key, run] of this.runs) {
      if (liveRuns.has(key)) {
        run.goneAtMs = null;
        continue;
      }
      run.goneAtMs ??= nowMs;
      const leftovers = [...run.members.values()].filter(
        (id) => isLive(tree, id) && !(id.pid === run.top.pid && id.startTicks === run.top.startTicks),
      );
      if (leftovers.length === 0) {
        this.forget(key, run);
        continue;
      }
      finished.push({ run, leftovers, goneForS: (nowMs - run.goneAtMs) / 1000 });
    }
    return { members, finished };
  }

  /**
   * Runs whose top is one of these live processes (agents the envelope lists now, seen before it
   * listed them) were never test runs: forgotten, so what runs below is tracked anew, owned by the agent.
   */
  forgetRunsToppedBy(pids: ReadonlySet<number>, tree: ProcTree<LinkedProcess>): void {
    for (const [key, run] of this.runs) if (pids.has(run.top.pid) && isLive(tree, run.top)) this.forget(key, run);
  }

  /** The highest matching ancestor (or the process itself): the run's top. */
  private topOf(raw: MatchedProcess, matching: ReadonlyMap<number, MatchedProcess>, tree: ProcTree<LinkedProcess>): ProcIdentity {
    let top: ProcIdentity = { pid: raw.pid, startTicks: raw.startTicks };
    for (const a of tree.ancestors(raw.pid)) {
      const m = matching.get(a.pid);
      if (m?.startTicks === a.startTicks) top = { pid: m.pid, startTicks: m.startTicks };
    }
    return top;
  }

  private runFor(top: ProcIdentity, ownerOf: (top: ProcIdentity) => Owner): RunRecord {
    const key = identityKey(top);
    let run = this.runs.get(key);
    if (!run) {
      run = { top, owner: ownerOf(top), members: new Map(), goneAtMs: null };
      this.runs.set(key, run);
    } else {
      run.owner ??= ownerOf(top);
    }
    return run;
  }

  private remember(run: RunRecord, tree: ProcTree<LinkedProcess>): void {
    const runKey = identityKey(run.top);
    for (const d of tree.descendants(run.top.pid)) {
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

  /** (pid, starttime) of every remembered member, flat: the scan reports on them while they live. */
  watched(): number[] {
    const out: number[] = [];
    for (const run of this.runs.values()) for (const m of run.members.values()) out.push(m.pid, m.startTicks);
    return out;
  }

  /** The live processes of a run: its top (while alive) and every remembered or current descendant. */
  processesOf(run: RunRecord, tree: ProcTree<LinkedProcess>): ProcIdentity[] {
    const out = new Map<string, ProcIdentity>();
    if (isLive(tree, run.top)) {
      out.set(identityKey(run.top), run.top);
      for (const d of tree.descendants(run.top.pid)) out.set(identityKey(d), { pid: d.pid, startTicks: d.startTicks });
    }
    for (const [key, id] of run.members) if (isLive(tree, id)) out.set(key, id);
    return [...out.values()];
  }
}
