import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { isoUtc, type Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import { formatDuration, t, type Locale } from '../../i18n.js';
import { identityKey, isRunningState, isSameProcess, type ProcIdentity, type ProcStat } from '../../proc/parse-stat.js';
import { ProcTree, readProcTable } from '../../proc/proc-table.js';
import { describeProtected, protectedPids, type ProtectedPids } from '../../proc/protected-pids.js';
import { isOwnProcRoot, readCmdline } from '../../proc/read-proc.js';
import { startSignalWithGrace, type GraceReceipt, type GraceSignal, type SignalledProcess } from '../../proc/signal-with-grace.js';
import type { AgentDirectory } from '../../watchdog/agent-directory.js';
import type { RetestRegistry } from '../../watchdog/retest-registry.js';
import { makeSignal, type Signal } from '../../watchdog/signal.js';
import type { Matcher, MatchMode } from './program.js';
import type { Candidate, RunAlert } from './runs.js';
import { isReapDue } from './signals.js';

type Trigger = 'reaper' | 'api';

type RefusalCode =
  | 'not_candidate'
  | 'not_running'
  | 'changed'
  | 'protected'
  | 'retest_running'
  | 'agents_unlocated'
  | 'foreign_root'
  | 'in_progress'
  | 'signal_failed';

type TerminateAnswer =
  | { ok: true; pid: number; runPid: number; terminated: SignalledProcess[]; done: Promise<GraceReceipt> }
  | { ok: false; code: RefusalCode; message: string };
type Refusal = Extract<TerminateAnswer, { ok: false }>;

/** What to stop: a live run (`topMatch`: its top must still match so) or the leftovers of a finished one (null). */
interface StopTarget {
  candidate: ProcIdentity;
  top: ProcIdentity;
  topMatch: MatchMode | null;
  /** the run's processes at the last scan */
  processes: ProcIdentity[];
}

export interface RunStopsDeps {
  log: Logger;
  reaped?: Counter<'trigger'>;
  matcher: Matcher;
  /** the last tick's candidates and alerts: a terminate names one of them */
  last: () => { candidates: readonly Candidate[]; alerts: readonly RunAlert[] } | null;
  /** the latest envelope's agents: owners, and pids that are never signalled */
  agents?: AgentDirectory;
  /** merge-gate re-tests in flight: owners, never blocking nor signalled inside their timeout */
  retests?: RetestRegistry;
  /** the clock re-test deadlines are set on (the app's) */
  clock?: Clock;
  /** the watchdog's edge dispatch for `proc_reaped` (alerts raised outside the tick) */
  emitEdge?: (signal: Signal) => void;
  kill?: (pid: number, signal: GraceSignal | 0) => void;
}

const refuse = (code: RefusalCode, message: string): Refusal => ({ ok: false, code, message });

/** The one way a run is stopped, by the API or the reaper: exactly its processes (never the shell or agent that started it), each
 * (pid, starttime) re-checked before every signal (same process, not protected, no re-test inside its timeout, the top still matching). */
export class RunStops {
  /** stops from their first check to their last signal, by the run's top */
  private readonly inFlight = new Map<string, Promise<unknown>>();
  /** runs the reaper was refused: said once, not every tick */
  private readonly refused = new Set<string>();
  private reaperPausedFor: string | null = null;

  constructor(
    private readonly config: Pick<Config, 'procRoot' | 'procEnabled' | 'killGraceS' | 'procReapAgeMin' | 'locale'>,
    private readonly deps: RunStopsDeps,
  ) {}

  /** POST /proc/candidates/:pid/terminate: only a candidate of the last scan, its whole run. */
  async terminate(pid: number): Promise<TerminateAnswer> {
    if (!this.config.procEnabled)
      return refuse('not_candidate', 'the /proc scan is off (WATCHDOG_PROC_ENABLED=false), so there are no candidates');
    const last = this.deps.last();
    const c = last?.candidates.find((x) => x.pid === pid);
    const alert = c && last?.alerts.find((a) => a.top.pid === c.run.pid && a.top.startTicks === c.run.startTicks);
    if (!c || !alert) return refuse('not_candidate', `pid ${pid} is not a candidate of the last scan; see GET /proc/candidates`);
    return this.stop(alert, c, 'api');
  }

  /** Opt-in (WATCHDOG_PROC_REAP_ENABLED): stops the runs `isReapDue` names; waits while the agents cannot be located. */
  reap(alerts: readonly RunAlert[], log: Logger): void {
    const unlocated = this.deps.agents?.unlocatedReason() ?? null;
    if (unlocated !== null && unlocated !== this.reaperPausedFor)
      log.warn({ reason: unlocated }, "reaper paused: the orchestrator's agents cannot be located");
    this.reaperPausedFor = unlocated;
    if (unlocated !== null) return;
    const current = new Set(alerts.map((a) => identityKey(a.top)));
    for (const key of this.refused) if (!current.has(key)) this.refused.delete(key);
    for (const a of alerts) {
      const key = identityKey(a.top);
      if (!isReapDue(a, this.config.procReapAgeMin * 60) || this.inFlight.has(key) || this.refused.has(key)) continue;
      void this.stop(a, a.lead, 'reaper').then((answer) => {
        if (answer.ok) return;
        this.refused.add(key); // agents_unlocated cannot come back here: reap() has just checked it
        log.warn({ pid: a.top.pid, code: answer.code }, `reaper skipped the run of pid ${a.top.pid}: ${answer.message}`);
      });
    }
  }

  /** Answers once the SIGTERMs are sent; reports when the grace is over. */
  private async stop(alert: RunAlert, candidate: Candidate, trigger: Trigger): Promise<TerminateAnswer> {
    const key = identityKey(alert.top);
    if (this.inFlight.has(key)) return refuse('in_progress', `the run of pid ${alert.top.pid} is already being terminated`);
    const { log } = this.deps;
    const topMatch = alert.lead.match === 'leftover' ? null : alert.lead.match; // a finished run's lead is a leftover
    const answer = this.start({ candidate, top: alert.top, topMatch, processes: alert.processes }).catch((err: unknown): Refusal => {
      log.error({ err, pid: candidate.pid }, 'terminate failed before any signal');
      return refuse('signal_failed', `pid ${candidate.pid} could not be checked: ${(err as Error).message}`);
    });
    const whole = answer.then((a) => (a.ok ? a.done.then((receipt) => this.report(receipt, alert, trigger)) : undefined));
    this.inFlight.set(
      key,
      whole
        .catch((err: unknown) => log.error({ err, pid: candidate.pid }, 'terminate failed after SIGTERM'))
        .finally(() => this.inFlight.delete(key)),
    );
    const started = await answer;
    if (!started.ok) return started;
    const pids = started.terminated.map((p) => p.pid);
    log.warn(
      { pid: candidate.pid, runPid: alert.top.pid, pids, trigger, cmdline: alert.lead.cmdline },
      `SIGTERM sent to the run of pid ${alert.top.pid}`,
    );
    return started;
  }

  /** The checks and the SIGTERMs; `done` resolves with the receipt once the grace and the SIGKILLs are over. */
  async start(target: StopTarget): Promise<TerminateAnswer> {
    const { procRoot } = this.config;
    const { agents } = this.deps;
    const unlocated = agents?.unlocatedReason() ?? null;
    if (unlocated !== null)
      return refuse('agents_unlocated', `the orchestrator's agents cannot be located (${unlocated}); nothing is signalled until they can`);
    const foreign = `WATCHDOG_PROC_ROOT ${procRoot} is not the /proc of the watchdog's pid namespace; its pids cannot be signalled from here`;
    if (!(await isOwnProcRoot(procRoot))) return refuse('foreign_root', foreign);
    const tree = new ProcTree(readProcTable(procRoot));
    const guard = protectedPids(tree.table, { agentPids: agents?.byHostPid().keys() ?? [] });
    const refused = await this.refusal(target, tree, guard);
    if (refused) return refused;
    const started = await startSignalWithGrace(this.targetsOf(target, tree, guard), {
      procRoot,
      graceMs: this.config.killGraceS * 1000,
      kill: this.deps.kill,
      check: async (stat) => {
        const isTop = target.topMatch !== null && stat.pid === target.top.pid;
        return (
          this.retestHolding(stat.pid, tree) ??
          (isTop && !(await this.stillMatches(stat, target.topMatch!)) ? 'no longer matches WATCHDOG_PROC_PATTERNS' : null)
        );
      },
    });
    if (started.terminated.length === 0) {
      const why = started.skipped[0]?.reason ?? 'gone';
      return why === 'gone' ? refuse('not_running', `the run of pid ${target.top.pid} is no longer running`) : refuse('signal_failed', why);
    }
    return { ok: true, pid: target.candidate.pid, runPid: target.top.pid, terminated: started.terminated, done: started.done };
  }

  /** Resolves when the stops in flight have finished (tests, graceful shutdown). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.inFlight.values()]);
  }

  private async refusal({ candidate, top, topMatch }: StopTarget, tree: ProcTree, guard: ProtectedPids): Promise<Refusal | null> {
    const protectedText = describeProtected(candidate.pid, guard) ?? describeProtected(top.pid, guard);
    if (protectedText !== null) return refuse('protected', protectedText);
    const retest = this.retestHolding(candidate.pid, tree) ?? this.retestHolding(top.pid, tree);
    if (retest !== null) return refuse('retest_running', retest);
    const stat = tree.table.get(candidate.pid);
    if (!stat || !isRunningState(stat.state)) return refuse('not_running', `pid ${candidate.pid} is no longer running`);
    if (!isSameProcess(stat, candidate))
      return refuse('changed', `pid ${candidate.pid} now belongs to a different process (start time changed)`);
    if (topMatch === null) return null;
    const topStat = tree.table.get(top.pid);
    if (!isSameProcess(topStat, top)) return refuse('changed', `the run's test process ${top.pid} is gone or was replaced since the scan`);
    if (!(await this.stillMatches(topStat, topMatch)))
      return refuse('changed', `pid ${top.pid} no longer matches WATCHDOG_PROC_PATTERNS (its command line changed)`);
    return null;
  }

  /** The run's processes now: the scan's list plus descendants born since, minus anything protected; the top first. */
  private targetsOf(target: StopTarget, tree: ProcTree, guard: ProtectedPids): ProcIdentity[] {
    const out = new Map<string, ProcIdentity>();
    const add = (id: ProcIdentity): void => {
      if (describeProtected(id.pid, guard) === null) out.set(identityKey(id), { pid: id.pid, startTicks: id.startTicks });
    };
    if (target.topMatch !== null) add(target.top);
    for (const id of target.processes) add(id);
    for (const root of [...out.values()]) for (const d of tree.descendants(root.pid)) add(d);
    // the test runner's own SIGTERM handling usually stops its children
    return [...out.values()].sort((a, b) => Number(b.pid === target.top.pid) - Number(a.pid === target.top.pid));
  }

  private async stillMatches(stat: ProcStat, mode: MatchMode): Promise<boolean> {
    const argv = await readCmdline(stat.pid, this.config.procRoot).catch(() => null);
    return argv !== null && this.deps.matcher.match(argv) === mode;
  }

  /** Why `pid` belongs to a running re-test inside its timeout (itself or an ancestor is its root), or null. */
  private retestHolding(pid: number, tree: ProcTree): string | null {
    const self = tree.table.get(pid);
    const retest = this.deps.retests?.holding(self ? [self, ...tree.ancestors(pid)] : [], (this.deps.clock ?? Date.now)());
    if (!retest) return null;
    return (
      `pid ${pid} belongs to merge-gate re-test ${retest.id}, inside its timeout until ${isoUtc(retest.deadlineMs)}: ` +
      `the gate stops it then; to stop it now, DELETE /merge-gate/retests/${retest.id}`
    );
  }

  /** The log line, the counter and one `proc_reaped` alert. */
  private report(receipt: GraceReceipt, alert: RunAlert, trigger: Trigger): void {
    const { log, reaped, emitEdge } = this.deps;
    const killed = receipt.processes.some((p) => p.signal === 'SIGKILL');
    const outcome = !receipt.confirmedDead ? 'survived' : killed ? 'killed' : 'terminated';
    reaped?.inc({ trigger });
    const pids = [...new Set(receipt.processes.map((p) => p.pid))];
    const { ageS, cmdline } = alert.lead;
    const texts = reapedTexts({ runPid: alert.top.pid, pids, trigger, outcome, ageS, cmdline }, this.config.locale);
    log.warn({ runPid: alert.top.pid, outcome, processes: receipt.processes, trigger }, texts.title);
    const severity = outcome === 'survived' ? 'critical' : 'warning';
    try {
      emitEdge?.(makeSignal({ family: 'proc_reaped', entity: String(alert.top.pid), active: true, severity, ...texts }));
    } catch (err) {
      log.error({ err }, 'could not dispatch proc_reaped');
    }
  }
}

interface ReapFacts {
  runPid: number;
  pids: number[];
  trigger: Trigger;
  outcome: 'terminated' | 'killed' | 'survived';
  ageS: number;
  cmdline: string;
}

export function reapedTexts(r: ReapFacts, locale: Locale): Pick<Signal, 'title' | 'detail'> {
  const age = formatDuration(r.ageS, locale);
  const whom = t(locale, { en: `the run's processes ${r.pids.join(', ')}`, ru: `процессы прогона ${r.pids.join(', ')}` });
  const how = {
    terminated: t(locale, { en: 'exited after SIGTERM', ru: 'завершение по SIGTERM' }),
    killed: t(locale, { en: 'ignored SIGTERM and was killed with SIGKILL', ru: 'SIGTERM проигнорирован, добит SIGKILL' }),
    survived: t(locale, { en: 'is STILL ALIVE after SIGKILL; check it by hand', ru: 'ВСЁ ЕЩЁ жив после SIGKILL, проверьте вручную' }),
  }[r.outcome];
  const by = {
    reaper: t(locale, { en: 'the reaper (WATCHDOG_PROC_REAP_ENABLED)', ru: 'автоматическая очистка (WATCHDOG_PROC_REAP_ENABLED)' }),
    api: t(locale, { en: 'an API request', ru: 'запрос через API' }),
  }[r.trigger];
  return {
    title: t(locale, {
      en: `Test process ${r.runPid} terminated after ${age}`,
      ru: `Тестовый процесс ${r.runPid} остановлен через ${age}`,
    }),
    detail: t(locale, {
      en: `Terminated by ${by}: ${whom}: ${how}. Command: ${r.cmdline}`,
      ru: `Остановлен (${by}): ${whom}: ${how}. Команда: ${r.cmdline}`,
    }),
  };
}
