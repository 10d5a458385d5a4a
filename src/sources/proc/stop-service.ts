import type { Logger } from 'pino';
import type { Locale } from '../../i18n.js';
import { makeSignal, type Signal } from '../../watchdog/signal.js';
import type { ProcMetrics } from './metrics.js';
import { reapedTexts } from './texts.js';
import type { Candidate, RunAlert } from './runs.js';
import type { RefusalCode, TerminationResult, Terminator, Trigger } from './terminate.js';
import type { SignalledProcess } from '../../proc/signal-with-grace.js';

export type TerminateAnswer =
  | { ok: true; pid: number; runPid: number; terminated: SignalledProcess[]; done: Promise<TerminationResult> }
  | { ok: false; code: RefusalCode | 'not_candidate'; message: string };

export interface StopServiceDeps {
  terminator: Terminator;
  log: Logger;
  locale: Locale;
  metrics: ProcMetrics | null;
  /** The alert sink's edge dispatch for `proc_reaped`. */
  emitEdge?: (signal: Signal) => void;
}

/** Stops a run (API or reaper) and reports it: the log line, the counter and one `proc_reaped` alert. */
export class StopService {
  constructor(private readonly deps: StopServiceDeps) {}

  async stop(unit: RunAlert, candidate: Candidate, trigger: Trigger): Promise<TerminateAnswer> {
    const { terminator, log } = this.deps;
    const candidatePid = candidate.pid;
    let started;
    try {
      started = await terminator.start({
        candidate: { pid: candidate.pid, startTicks: candidate.startTicks },
        top: unit.top,
        topMatch: unit.goneForS === null && unit.lead.match !== 'leftover' ? unit.lead.match : null,
        processes: unit.processes,
      });
    } catch (err) {
      log.error({ err, pid: candidatePid }, 'terminate failed before any signal');
      return { ok: false, code: 'signal_failed', message: `pid ${candidatePid} could not be checked: ${(err as Error).message}` };
    }
    if (!started.ok) return started;
    const pids = started.terminated.map((p) => p.pid);
    log.warn(
      { pid: candidatePid, runPid: unit.top.pid, pids, trigger, cmdline: unit.lead.cmdline },
      `SIGTERM sent to the run of pid ${unit.top.pid}`,
    );
    const done = started.done.then((result) => {
      this.report(result, unit, trigger);
      return result;
    });
    done.catch((err: unknown) => log.error({ err, pid: candidatePid }, 'terminate failed after SIGTERM'));
    return { ok: true, pid: candidatePid, runPid: unit.top.pid, terminated: started.terminated, done };
  }

  private report(result: TerminationResult, unit: RunAlert, trigger: Trigger): void {
    const { log, metrics } = this.deps;
    metrics?.reaped.inc({ trigger });
    const pids = [...new Set(result.receipt.processes.map((p) => p.pid))];
    const texts = reapedTexts(
      { runPid: unit.top.pid, pids, trigger, outcome: result.outcome, ageS: unit.lead.ageS, cmdline: unit.lead.cmdline },
      this.deps.locale,
    );
    const signal = makeSignal({
      family: 'proc_reaped',
      entity: String(unit.top.pid),
      active: true,
      severity: result.outcome === 'survived' ? 'critical' : 'warning',
      ...texts,
    });
    log.warn({ runPid: unit.top.pid, outcome: result.outcome, processes: result.receipt.processes, trigger }, texts.title);
    try {
      this.deps.emitEdge?.(signal);
    } catch (err) {
      log.error({ err }, 'could not dispatch proc_reaped');
    }
  }
}
