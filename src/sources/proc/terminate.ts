import { identityKey, isSameProcess, type ProcIdentity } from '../../proc/identity.js';
import { isRunningState, type ProcStat } from '../../proc/parse-stat.js';
import { ProcTree, readProcTable } from '../../proc/proc-table.js';
import { describeProtected, protectedPids, whyProtected, type ProtectedPids } from '../../proc/protected-pids.js';
import { isOwnProcRoot, readCmdline } from '../../proc/read-proc.js';
import { startSignalWithGrace, type GraceReceipt, type GraceSignal, type SignalledProcess } from '../../proc/signal-with-grace.js';
import { isoUtc } from '../../clock.js';
import type { RetestRegistry } from '../../watchdog/retest-registry.js';
import type { Matcher, MatchMode } from './program.js';

export type Trigger = 'reaper' | 'api';

export type RefusalCode =
  'not_running' | 'changed' | 'protected' | 'retest_running' | 'agents_unlocated' | 'foreign_root' | 'in_progress' | 'signal_failed';

/** What to stop: a live run (its top must still match) or the leftovers of a finished one. */
export interface RunTarget {
  /** the candidate asked for */
  candidate: ProcIdentity;
  /** the run's top; `topMatch` null when the run is finished */
  top: ProcIdentity;
  topMatch: MatchMode | null;
  /** the run's processes at the last scan (top, descendants, remembered members) */
  processes: ProcIdentity[];
}

export interface TerminationResult {
  runPid: number;
  outcome: 'terminated' | 'killed' | 'survived';
  receipt: GraceReceipt;
}

export type StartOutcome =
  | { ok: true; runPid: number; terminated: SignalledProcess[]; done: Promise<TerminationResult> }
  | { ok: false; code: RefusalCode; message: string };

export interface TerminatorOptions {
  procRoot: string;
  /** SIGTERM → SIGKILL grace (WATCHDOG_KILL_GRACE_S) */
  graceMs: number;
  selfPid: number;
  matcher: Matcher;
  /** the envelope's agent pids right now: they and their ancestors are never signalled */
  agentPids: () => Iterable<number>;
  /** why the agents cannot be told apart from other host processes right now (then nothing is signalled), or null */
  agentsUnlocated?: () => string | null;
  cmdlineMaxBytes: number;
  /** merge-gate re-tests in flight: inside their timeout they are the gate's to stop, never ours */
  retests?: RetestRegistry;
  /** ms since the epoch, the clock re-test deadlines are set on */
  now?: () => number;
  pollMs?: number;
  killWaitMs?: number;
  kill?: (pid: number, signal: GraceSignal | 0) => void;
}

const refuse = (code: RefusalCode, message: string): StartOutcome => ({ ok: false, code, message });

/**
 * Stops exactly a run's processes (never the shell or agent that started it), one
 * (pid, starttime) at a time, SIGTERM → grace → SIGKILL. Before every signal each target is
 * re-read: same identity, not protected (pid ≤ 1, the watchdog, its ancestors, an agent or an
 * agent's ancestor), and the run's top still matching.
 */
export class Terminator {
  private readonly inFlight = new Map<string, Promise<TerminationResult>>();

  constructor(private readonly opts: TerminatorOptions) {}

  isInFlight(top: ProcIdentity): boolean {
    return this.inFlight.has(identityKey(top));
  }

  async settle(): Promise<void> {
    await Promise.allSettled([...this.inFlight.values()]);
  }

  private async stillMatches(stat: ProcStat, mode: MatchMode): Promise<boolean> {
    const argv = await readCmdline(stat.pid, this.opts.procRoot, this.opts.cmdlineMaxBytes).catch(() => null);
    return argv !== null && this.opts.matcher.match(argv) === mode;
  }

  /** Why `pid` belongs to a running re-test inside its timeout (itself or an ancestor is its root), or null. */
  private retestHolding(pid: number, tree: ProcTree<ProcStat>): string | null {
    const self = tree.table.get(pid);
    const lineage = self ? [self, ...tree.ancestors(pid)] : [];
    const retest = this.opts.retests?.holding(lineage, (this.opts.now ?? Date.now)());
    if (!retest) return null;
    return (
      `pid ${pid} belongs to merge-gate re-test ${retest.id}, inside its timeout until ${isoUtc(retest.deadlineMs)}: ` +
      `the gate stops it then; to stop it now, DELETE /merge-gate/retests/${retest.id}`
    );
  }

  /** Why the asked-for candidate may not be stopped, or null. */
  private async refusal(target: RunTarget, tree: ProcTree<ProcStat>, guard: ProtectedPids): Promise<StartOutcome | null> {
    const { table } = tree;
    const { candidate, top, topMatch } = target;
    const reason = whyProtected(candidate.pid, guard) ?? whyProtected(top.pid, guard);
    if (reason !== null)
      return refuse('protected', describeProtected(whyProtected(candidate.pid, guard) ? candidate.pid : top.pid, reason));
    const retest = this.retestHolding(candidate.pid, tree) ?? this.retestHolding(top.pid, tree);
    if (retest !== null) return refuse('retest_running', retest);
    const stat = table.get(candidate.pid);
    if (!stat || !isRunningState(stat.state)) return refuse('not_running', `pid ${candidate.pid} is no longer running`);
    if (!isSameProcess(stat, candidate))
      return refuse('changed', `pid ${candidate.pid} now belongs to a different process (start time changed)`);
    if (topMatch !== null) {
      const topStat = table.get(top.pid);
      if (!isSameProcess(topStat, top))
        return refuse('changed', `the run's test process ${top.pid} is gone or was replaced since the scan`);
      if (!(await this.stillMatches(topStat, topMatch))) {
        return refuse('changed', `pid ${top.pid} no longer matches WATCHDOG_PROC_PATTERNS (its command line changed)`);
      }
    }
    if (this.inFlight.has(identityKey(top))) return refuse('in_progress', `the run of pid ${top.pid} is already being terminated`);
    return null;
  }

  async start(target: RunTarget): Promise<StartOutcome> {
    const { procRoot, selfPid } = this.opts;
    if (!Number.isSafeInteger(target.candidate.pid) || target.candidate.pid <= 1)
      return refuse('protected', describeProtected(target.candidate.pid, 'init'));
    const unlocated = this.opts.agentsUnlocated?.() ?? null;
    if (unlocated !== null)
      return refuse('agents_unlocated', `the orchestrator's agents cannot be located (${unlocated}); nothing is signalled until they can`);
    if (!(await isOwnProcRoot(procRoot, selfPid))) {
      return refuse(
        'foreign_root',
        `WATCHDOG_PROC_ROOT ${procRoot} is not the /proc of the watchdog's pid namespace; its pids cannot be signalled from here`,
      );
    }
    const table = readProcTable(procRoot);
    const tree = new ProcTree(table);
    const guard = protectedPids(table, { selfPid, agentPids: this.opts.agentPids() });
    const refused = await this.refusal(target, tree, guard);
    if (refused) return refused;
    const targets = this.targetsOf(target, tree, guard);
    const started = await startSignalWithGrace(targets, {
      procRoot,
      graceMs: this.opts.graceMs,
      pollMs: this.opts.pollMs,
      killWaitMs: this.opts.killWaitMs,
      kill: this.opts.kill,
      check: async (stat) => {
        const why = whyProtected(stat.pid, guard);
        if (why !== null) return describeProtected(stat.pid, why);
        const retest = this.retestHolding(stat.pid, tree);
        if (retest !== null) return retest;
        const isTop = target.topMatch !== null && stat.pid === target.top.pid;
        return isTop && !(await this.stillMatches(stat, target.topMatch!)) ? 'no longer matches WATCHDOG_PROC_PATTERNS' : null;
      },
    });
    if (started.terminated.length === 0) {
      const why = started.skipped[0]?.reason ?? 'gone';
      return why === 'gone' ? refuse('not_running', `the run of pid ${target.top.pid} is no longer running`) : refuse('signal_failed', why);
    }
    const key = identityKey(target.top);
    const done = started.done
      .then((receipt): TerminationResult => {
        const killed = receipt.processes.some((p) => p.signal === 'SIGKILL');
        return { runPid: target.top.pid, receipt, outcome: !receipt.confirmedDead ? 'survived' : killed ? 'killed' : 'terminated' };
      })
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, done);
    return { ok: true, runPid: target.top.pid, terminated: started.terminated, done };
  }

  /** The run's processes now: the scan's list plus descendants born since, minus anything protected. */
  private targetsOf(target: RunTarget, tree: ProcTree<ProcStat>, guard: ProtectedPids): ProcIdentity[] {
    const out = new Map<string, ProcIdentity>();
    const add = (id: ProcIdentity): void => {
      if (whyProtected(id.pid, guard) === null) out.set(identityKey(id), { pid: id.pid, startTicks: id.startTicks });
    };
    if (target.topMatch !== null) add(target.top);
    for (const id of target.processes) add(id);
    for (const root of [...out.values()]) for (const d of tree.descendants(root.pid)) add(d);
    // the top first: the test runner's own SIGTERM handling usually stops its children
    return [...out.values()].sort((a, b) => Number(b.pid === target.top.pid) - Number(a.pid === target.top.pid));
  }
}
