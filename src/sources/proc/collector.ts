import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../../config.js';
import { makeSignal, type Signal } from '../../watchdog/signal.js';
import type { CollectContext, Collector } from '../../watchdog/collector.js';
import { BlockingTracker } from './blocking-tracker.js';
import { toCandidate, type Candidate } from './candidates.js';
import { createProcMetrics, type ProcMetrics } from './metrics.js';
import { isOwnProcRoot, protectedSet, readBootTimeS, readClockTicks, readStat } from '../../proc/read-proc.js';
import { ScanWorker } from './scan-worker.js';
import { Terminator, type RefusalCode, type TerminationResult, type Trigger } from './terminate.js';
import { blockingTexts, reapedTexts, recoveredTexts } from './texts.js';

/** Enough of the command line to match on; a huge argv (xdist node ids) is cut here. */
export const CMDLINE_READ_BYTES = 4096;
/** A cached "does not match" is re-read within this time, so exec wrappers and setproctitle are seen. */
export const CMDLINE_RECHECK_MS = 60_000;

export interface ProcCollectorDeps {
  registry?: Registry;
  /** The watchdog's edge dispatch for `proc_reaped` (alerts raised outside the tick). */
  emitEdge?: (signal: Signal) => void;
  log?: Logger;
  /** false turns the reaper off whatever WATCHDOG_PROC_REAP_ENABLED says (the one-shot CLI tick). */
  allowReap?: boolean;
  selfPid?: number;
  /** Test seam: signal delivery (process.kill). */
  kill?: (pid: number, signal: NodeJS.Signals | 0) => void;
  /** Test seam: grace-loop poll interval. */
  pollMs?: number;
}

export interface CandidatesView {
  enabled: boolean;
  thresholdS: number;
  /** ms since epoch of the last finished scan */
  scannedAt: number | null;
  candidates: Candidate[];
}

export type TerminateAnswer =
  | { ok: true; pid: number; pgrp: number; target: 'group' | 'process'; done: Promise<TerminationResult> }
  | { ok: false; code: RefusalCode | 'not_candidate'; message: string };

interface Boot {
  btimeS: number;
  clkTck: number;
  terminator: Terminator;
  /** process groups that must never be signalled as a group (the watchdog's and its ancestors') */
  unsafePgrps: Set<number>;
}

/**
 * proc_blocking: matching processes older than WATCHDOG_PROC_AGE_MIN. Scans in a worker thread,
 * keeps the last scan for GET /proc/candidates, and (opt-in) reaps old orphans.
 */
export class ProcCollector implements Collector {
  readonly name = 'proc';
  private readonly worker: ScanWorker;
  private readonly tracker = new BlockingTracker();
  private readonly metrics: ProcMetrics | null;
  private readonly log: Logger;
  private readonly selfPid: number;
  private boot: Promise<Boot> | null = null;
  private last: { scannedAt: number; candidates: Candidate[] } | null = null;
  /** (pid:starttime) the reaper refused once: logged once, not every tick */
  private readonly refusedReaps = new Set<string>();
  /** reaps from their first check to their last signal, so a tick never starts a second one */
  private readonly reaping = new Map<number, Promise<unknown>>();

  constructor(
    private readonly config: Config,
    private readonly deps: ProcCollectorDeps = {},
  ) {
    this.worker = new ScanWorker({
      root: config.procRoot,
      patterns: config.procPatterns,
      recheckMs: CMDLINE_RECHECK_MS,
      cmdlineMaxBytes: CMDLINE_READ_BYTES,
    });
    this.metrics = deps.registry ? createProcMetrics(deps.registry) : null;
    this.log = deps.log ?? pino({ level: 'silent' });
    this.selfPid = deps.selfPid ?? process.pid;
  }

  get thresholdS(): number {
    return this.config.procAgeMin * 60;
  }

  private get reapEnabled(): boolean {
    return this.config.procReapEnabled && this.deps.allowReap !== false;
  }

  private loadBoot(): Promise<Boot> {
    this.boot ??= (async (): Promise<Boot> => {
      const root = this.config.procRoot;
      const [btimeS, clkTck] = await Promise.all([readBootTimeS(root), readClockTicks()]);
      const terminator = new Terminator({
        root,
        patterns: this.config.procPatterns,
        graceMs: this.config.killGraceS * 1000,
        selfPid: this.selfPid,
        btimeS,
        clkTck,
        cmdlineMaxBytes: CMDLINE_READ_BYTES,
        pollMs: this.deps.pollMs,
        kill: this.deps.kill,
      });
      const unsafePgrps = (await isOwnProcRoot(root, this.selfPid)) ? (await protectedSet(root, this.selfPid)).pgrps : new Set<number>();
      return { btimeS, clkTck, terminator, unsafePgrps };
    })().catch((err: unknown) => {
      this.boot = null; // retried next tick
      throw err;
    });
    return this.boot;
  }

  async collect(ctx: CollectContext): Promise<Signal[]> {
    if (!this.config.procEnabled) return [];
    const boot = await this.loadBoot();
    const scan = await this.worker.scan(ctx.abortSignal);
    const clock = { btimeS: boot.btimeS, clkTck: boot.clkTck, nowMs: ctx.now, thresholdS: this.thresholdS };
    const candidates = scan.candidates.map((raw) => toCandidate(raw, clock)).sort((a, b) => b.ageS - a.ageS || a.pid - b.pid);
    this.last = { scannedAt: ctx.now, candidates };
    this.observe(scan.durationMs, scan.errors, candidates);
    if (scan.errors.eacces + scan.errors.other > 0) ctx.log.debug({ errors: scan.errors }, 'some /proc entries could not be read');

    const listed = new Map(candidates.map((c) => [c.pid, c.startTicks]));
    const startByPid = new Map(listed);
    for (const pid of this.tracker.activePids()) {
      if (listed.has(pid)) continue;
      const stat = await readStat(this.config.procRoot, pid).catch(() => null);
      if (stat) startByPid.set(pid, stat.startTicks);
    }
    const step = this.tracker.step(candidates, startByPid);
    const locale = this.config.locale;
    const signals: Signal[] = [];
    for (const c of step.active) {
      const canSignalGroup = c.pgrp > 1 && !boot.unsafePgrps.has(c.pgrp);
      signals.push(
        makeSignal({
          family: 'proc_blocking',
          entity: String(c.pid),
          active: true,
          // four times the alert age is the default reap age: by then it is surely stuck
          severity: c.ageS >= 4 * this.thresholdS ? 'critical' : 'warning',
          ...blockingTexts(c, locale, canSignalGroup),
          cooldownS: this.config.procCooldownS,
        }),
      );
    }
    for (const g of step.gone) {
      signals.push(
        makeSignal({
          family: 'proc_blocking',
          entity: String(g.pid),
          active: false,
          severity: 'warning',
          ...recoveredTexts(g.pid, g.reason, locale),
          cooldownS: this.config.procCooldownS,
        }),
      );
    }
    if (this.reapEnabled) this.reap(candidates, boot, ctx.log);
    return signals;
  }

  private observe(durationMs: number, errors: Record<string, number>, candidates: Candidate[]): void {
    const m = this.metrics;
    if (!m) return;
    m.scanDuration.observe(durationMs / 1000);
    for (const [kind, n] of Object.entries(errors)) if (n > 0) m.readErrors.inc({ kind }, n);
    m.candidates.set(candidates.length);
    m.blocking.set(candidates.filter((c) => c.isBlocking).length);
    m.oldestAge.set(candidates[0]?.ageS ?? 0);
  }

  /** Orphaned matching processes past WATCHDOG_PROC_REAP_AGE_MIN get SIGTERM → grace → SIGKILL. */
  private reap(candidates: Candidate[], boot: Boot, log: Logger): void {
    const reapAgeS = this.config.procReapAgeMin * 60;
    const current = new Set(candidates.map((c) => `${c.pid}:${c.startTicks}`));
    for (const id of this.refusedReaps) if (!current.has(id)) this.refusedReaps.delete(id);
    for (const c of candidates) {
      if (!c.isOrphaned || c.ageS < reapAgeS || this.reaping.has(c.pid) || boot.terminator.isInFlight(c.pid)) continue;
      const id = `${c.pid}:${c.startTicks}`;
      if (this.refusedReaps.has(id)) continue;
      const run = this.terminateCandidate(c, 'reaper', boot)
        .then(async (answer) => {
          if (answer.ok) return answer.done;
          this.refusedReaps.add(id);
          log.warn({ pid: c.pid, code: answer.code }, `reaper skipped pid ${c.pid}: ${answer.message}`);
          return undefined;
        })
        .catch(() => undefined) // logged where it happened
        .finally(() => this.reaping.delete(c.pid));
      this.reaping.set(c.pid, run);
    }
  }

  private async terminateCandidate(c: Candidate, trigger: Trigger, boot: Boot): Promise<TerminateAnswer> {
    let started;
    try {
      started = await boot.terminator.start(c.pid, c.startTicks);
    } catch (err) {
      this.log.error({ err, pid: c.pid }, 'terminate failed before any signal');
      return { ok: false, code: 'signal_failed', message: `pid ${c.pid} could not be checked: ${(err as Error).message}` };
    }
    if (!started.ok) return started;
    this.log.warn({ pid: c.pid, pgrp: started.pgrp, target: started.target, trigger, cmdline: c.cmdline }, `SIGTERM sent to ${started.target} of pid ${c.pid}`);
    const done = started.done.then((result) => {
      this.metrics?.reaped.inc({ trigger });
      const texts = reapedTexts({ ...result, trigger, ageS: c.ageS, cmdline: c.cmdline }, this.config.locale);
      const signal = makeSignal({
        family: 'proc_reaped',
        entity: String(c.pid),
        active: true,
        severity: result.outcome === 'survived' ? 'critical' : 'warning',
        ...texts,
      });
      this.log.warn({ pid: c.pid, outcome: result.outcome, signals: result.signals, trigger }, texts.title);
      try {
        this.deps.emitEdge?.(signal);
      } catch (err) {
        this.log.error({ err }, 'could not dispatch proc_reaped');
      }
      return result;
    });
    done.catch((err: unknown) => this.log.error({ err, pid: c.pid }, 'terminate failed after SIGTERM'));
    return { ...started, done };
  }

  /** POST /proc/candidates/:pid/terminate: only a pid of the last scan, re-checked before SIGTERM. */
  async terminate(pid: number): Promise<TerminateAnswer> {
    if (!this.config.procEnabled) {
      return { ok: false, code: 'not_candidate', message: 'the /proc scan is off (WATCHDOG_PROC_ENABLED=false), so there are no candidates' };
    }
    const c = this.last?.candidates.find((x) => x.pid === pid);
    if (!c) return { ok: false, code: 'not_candidate', message: `pid ${pid} is not a candidate of the last scan; see GET /proc/candidates` };
    return this.terminateCandidate(c, 'api', await this.loadBoot());
  }

  view(): CandidatesView {
    return {
      enabled: this.config.procEnabled,
      thresholdS: this.thresholdS,
      scannedAt: this.last?.scannedAt ?? null,
      candidates: this.config.procEnabled ? (this.last?.candidates ?? []) : [],
    };
  }

  /** Resolves when reaps/terminations in flight have finished (tests, graceful shutdown). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.reaping.values()]);
    const boot = await this.boot?.catch(() => null);
    await boot?.terminator.settle();
  }

  /** See ScanWorker.hasStuckThread: the server must not wait for such a thread at exit. */
  get hasStuckScan(): boolean {
    return this.worker.hasStuckThread;
  }

  async close(): Promise<void> {
    await this.worker.close();
  }
}
