import { groupMembers, isOwnProcRoot, protectedSet, readProcess } from '../../proc/read-proc.js';

export type Trigger = 'reaper' | 'api';

export interface TerminatorOptions {
  root: string;
  patterns: string[];
  /** SIGTERM → SIGKILL grace (WATCHDOG_KILL_GRACE_S) */
  graceMs: number;
  selfPid: number;
  btimeS: number;
  clkTck: number;
  cmdlineMaxBytes: number;
  /** how often the grace loop looks whether the target is gone */
  pollMs?: number;
  /** how long to wait for the kernel to finish a SIGKILL */
  killWaitMs?: number;
  kill?: (pid: number, signal: NodeJS.Signals | 0) => void;
}

export interface TerminationResult {
  pid: number;
  pgrp: number;
  target: 'group' | 'process';
  outcome: 'terminated' | 'killed' | 'survived';
  signals: ('SIGTERM' | 'SIGKILL')[];
}

export type RefusalCode = 'not_running' | 'changed' | 'protected' | 'foreign_root' | 'in_progress' | 'signal_failed';

export type StartOutcome =
  | { ok: true; pid: number; pgrp: number; target: 'group' | 'process'; done: Promise<TerminationResult> }
  | { ok: false; code: RefusalCode; message: string };

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });

const errCode = (err: unknown): string | undefined => (err as { code?: string }).code;

/**
 * SIGTERM → grace → SIGKILL of a matching process's group. Before every signal the target is
 * re-read: same (pid, starttime), still matching, never pid ≤ 1, the watchdog or an ancestor.
 * `start` returns once SIGTERM is sent; the rest runs in the background (`done`).
 */
export class Terminator {
  private readonly regexes: RegExp[];
  private readonly inFlight = new Map<number, Promise<TerminationResult>>();
  private readonly kill: (pid: number, signal: NodeJS.Signals | 0) => void;

  constructor(private readonly opts: TerminatorOptions) {
    this.regexes = opts.patterns.map((p) => new RegExp(p));
    this.kill = opts.kill ?? ((pid, signal) => process.kill(pid, signal));
  }

  isInFlight(pid: number): boolean {
    return this.inFlight.has(pid);
  }

  /** Resolves when every termination in flight has finished. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Alive with the same identity and still matching: the only state in which it may be signalled. */
  private async isSameMatching(pid: number, startTicks: number): Promise<'same' | 'gone' | 'reused' | 'not_matching'> {
    const snap = await readProcess(this.opts.root, pid, this.opts.cmdlineMaxBytes);
    if (snap === null) return 'gone';
    if (snap.stat.startTicks !== startTicks) return 'reused';
    const line = snap.argv.join(' ');
    return snap.argv.length > 0 && this.regexes.some((re) => re.test(line)) ? 'same' : 'not_matching';
  }

  async start(pid: number, startTicks: number): Promise<StartOutcome> {
    const { root, selfPid } = this.opts;
    if (!Number.isSafeInteger(pid) || pid <= 1) return { ok: false, code: 'protected', message: `pid ${pid} is never signalled` };
    if (!(await isOwnProcRoot(root, selfPid))) {
      return {
        ok: false,
        code: 'foreign_root',
        message: `WATCHDOG_PROC_ROOT ${root} is not the /proc of the watchdog's pid namespace; its pids cannot be signalled from here`,
      };
    }
    const guard = await protectedSet(root, selfPid);
    if (guard.pids.has(pid)) return { ok: false, code: 'protected', message: `pid ${pid} is the watchdog or one of its ancestors` };
    if (this.inFlight.has(pid)) return { ok: false, code: 'in_progress', message: `pid ${pid} is already being terminated` };
    const state = await this.isSameMatching(pid, startTicks);
    if (state === 'gone') return { ok: false, code: 'not_running', message: `pid ${pid} is no longer running` };
    if (state === 'reused') return { ok: false, code: 'changed', message: `pid ${pid} now belongs to a different process (start time changed)` };
    if (state === 'not_matching') {
      return { ok: false, code: 'changed', message: `pid ${pid} no longer matches WATCHDOG_PROC_PATTERNS (its command line changed)` };
    }
    const snap = await readProcess(root, pid, this.opts.cmdlineMaxBytes);
    const pgrp = snap?.stat.pgrp ?? pid;
    // the watchdog's own group (or an ancestor's) would take the watchdog down with it
    const target: 'group' | 'process' = pgrp > 1 && !guard.pgrps.has(pgrp) ? 'group' : 'process';
    try {
      this.kill(target === 'group' ? -pgrp : pid, 'SIGTERM');
    } catch (err) {
      if (errCode(err) === 'ESRCH') return { ok: false, code: 'not_running', message: `pid ${pid} is no longer running` };
      return { ok: false, code: 'signal_failed', message: `SIGTERM to ${target === 'group' ? `group ${pgrp}` : `pid ${pid}`} failed: ${errCode(err) ?? String(err)}` };
    }
    const termTicks = this.bootTicksNow() + this.opts.clkTck; // one second of slack for btime's resolution
    const done = this.finish(pid, startTicks, pgrp, target, termTicks).finally(() => this.inFlight.delete(pid));
    this.inFlight.set(pid, done);
    return { ok: true, pid, pgrp, target, done };
  }

  private bootTicksNow(): number {
    return (Date.now() / 1000 - this.opts.btimeS) * this.opts.clkTck;
  }

  /** Group members that existed when SIGTERM was sent: a later process with a reused pgid is not ours. */
  private async survivors(pgrp: number, termTicks: number, exceptPid: number | null): Promise<number[]> {
    try {
      this.kill(-pgrp, 0);
    } catch {
      return [];
    }
    const members = await groupMembers(this.opts.root, pgrp).catch(() => []);
    return members.filter((m) => m.startTicks <= termTicks && m.pid !== exceptPid).map((m) => m.pid);
  }

  private async isFinished(pid: number, startTicks: number, pgrp: number, target: 'group' | 'process', termTicks: number): Promise<boolean> {
    const state = await this.isSameMatching(pid, startTicks).catch(() => 'gone' as const);
    if (state === 'same') return false;
    if (target === 'process') return true;
    return (await this.survivors(pgrp, termTicks, state === 'not_matching' ? pid : null)).length === 0;
  }

  private async finish(pid: number, startTicks: number, pgrp: number, target: 'group' | 'process', termTicks: number): Promise<TerminationResult> {
    const pollMs = this.opts.pollMs ?? 100;
    const result: TerminationResult = { pid, pgrp, target, outcome: 'terminated', signals: ['SIGTERM'] };
    const deadline = Date.now() + this.opts.graceMs;
    while (Date.now() < deadline) {
      await sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())));
      if (await this.isFinished(pid, startTicks, pgrp, target, termTicks)) return result;
    }
    const state = await this.isSameMatching(pid, startTicks).catch(() => 'gone' as const);
    const sendKill = (to: number): void => {
      try {
        this.kill(to, 'SIGKILL');
      } catch {
        // ESRCH: it exited between the check and the signal
      }
    };
    if (state === 'same') {
      sendKill(target === 'group' ? -pgrp : pid);
      result.signals.push('SIGKILL');
    } else if (target === 'group') {
      // the leader is gone; finish the members that ignored SIGTERM, one re-checked pid at a time
      const left = await this.survivors(pgrp, termTicks, state === 'not_matching' ? pid : null);
      for (const member of left) sendKill(member);
      if (left.length > 0) result.signals.push('SIGKILL');
    }
    if (result.signals.length === 1) return result;
    result.outcome = 'killed';
    const killDeadline = Date.now() + (this.opts.killWaitMs ?? 2000);
    while (Date.now() < killDeadline) {
      await sleep(pollMs);
      if (await this.isFinished(pid, startTicks, pgrp, target, termTicks)) return result;
    }
    result.outcome = 'survived';
    return result;
  }
}
