import { setTimeout as delay } from 'node:timers/promises';
import { isSameProcess, type ProcIdentity } from './identity.js';
import { isRunningState, type ProcStat } from './parse-stat.js';
import { readStat } from './read-proc.js';

export type GraceSignal = 'SIGTERM' | 'SIGKILL';

/** One signal actually sent; the merge gate's kill receipt lists the same shape. */
export interface SignalledProcess {
  pid: number;
  comm: string;
  signal: GraceSignal;
  /** ms since the epoch */
  at: number;
}

export interface SkippedProcess {
  pid: number;
  /** 'gone' | 'reused' (same pid, other starttime) | what `check` answered */
  reason: string;
}

export interface GraceReceipt {
  processes: SignalledProcess[];
  skipped: SkippedProcess[];
  /** every target is gone (or a zombie) at the end */
  confirmedDead: boolean;
  survivors: ProcIdentity[];
}

export interface GraceOptions {
  graceMs: number;
  procRoot?: string;
  /** how often the grace looks whether the targets are gone */
  pollMs?: number;
  /** how long to wait for the kernel to finish a SIGKILL */
  killWaitMs?: number;
  kill?: (pid: number, signal: GraceSignal | 0) => void;
  now?: () => number;
  /** Re-asked before every signal, after the identity check: a reason refuses that signal. */
  check?: (stat: ProcStat) => string | null | Promise<string | null>;
}

export interface StartedGrace {
  /** the SIGTERMs sent (empty when every target was refused or gone) */
  terminated: SignalledProcess[];
  skipped: SkippedProcess[];
  /** resolves after the grace, the SIGKILLs and the wait for them */
  done: Promise<GraceReceipt>;
}

type Verdict = { ok: true; stat: ProcStat } | { ok: false; reason: string };

async function recheck(id: ProcIdentity, opts: GraceOptions): Promise<Verdict> {
  const stat = readStat(id.pid, opts.procRoot);
  if (stat === null || !isRunningState(stat.state)) return { ok: false, reason: 'gone' };
  if (!isSameProcess(stat, id)) return { ok: false, reason: 'reused' };
  const refused = opts.check ? await opts.check(stat) : null;
  return refused === null ? { ok: true, stat } : { ok: false, reason: refused };
}

function isAlive(id: ProcIdentity, procRoot?: string): boolean {
  const stat = readStat(id.pid, procRoot);
  return isSameProcess(stat, id) && isRunningState(stat.state);
}

/** Sends `signal` to every target that is still itself and passes `check`; the rest are skipped. */
async function signalEach(
  targets: readonly ProcIdentity[],
  signal: GraceSignal,
  opts: GraceOptions,
): Promise<{ sent: SignalledProcess[]; skipped: SkippedProcess[] }> {
  const kill = opts.kill ?? ((pid, sig) => process.kill(pid, sig));
  const now = opts.now ?? Date.now;
  const sent: SignalledProcess[] = [];
  const skipped: SkippedProcess[] = [];
  for (const id of targets) {
    const verdict = await recheck(id, opts);
    if (!verdict.ok) {
      skipped.push({ pid: id.pid, reason: verdict.reason });
      continue;
    }
    try {
      kill(id.pid, signal);
      sent.push({ pid: id.pid, comm: verdict.stat.comm, signal, at: now() });
    } catch (err) {
      const code = (err as { code?: string }).code;
      skipped.push({ pid: id.pid, reason: code === 'ESRCH' ? 'gone' : `${signal} failed: ${code ?? String(err)}` });
    }
  }
  return { sent, skipped };
}

async function waitGone(targets: readonly ProcIdentity[], untilMs: number, opts: GraceOptions): Promise<ProcIdentity[]> {
  const pollMs = opts.pollMs ?? 100;
  let alive = targets.filter((id) => isAlive(id, opts.procRoot));
  while (alive.length > 0 && Date.now() < untilMs) {
    await delay(Math.max(1, Math.min(pollMs, untilMs - Date.now())), undefined, { ref: false });
    alive = alive.filter((id) => isAlive(id, opts.procRoot));
  }
  return alive;
}

/** SIGTERM → grace → SIGKILL by (pid, starttime), re-read before every signal: a reused pid or a zombie is skipped. */
export async function startSignalWithGrace(targets: readonly ProcIdentity[], opts: GraceOptions): Promise<StartedGrace> {
  const term = await signalEach(targets, 'SIGTERM', opts);
  const termed = term.sent.map((s) => targets.find((t) => t.pid === s.pid)!);
  const done = (async (): Promise<GraceReceipt> => {
    const processes = [...term.sent];
    const skipped = [...term.skipped];
    const left = await waitGone(termed, Date.now() + opts.graceMs, opts);
    if (left.length > 0) {
      const kill = await signalEach(left, 'SIGKILL', opts);
      processes.push(...kill.sent);
      skipped.push(...kill.skipped.filter((s) => s.reason !== 'gone'));
    }
    const survivors = await waitGone(left, Date.now() + (opts.killWaitMs ?? 2000), opts);
    return { processes, skipped, confirmedDead: survivors.length === 0, survivors };
  })();
  return { terminated: term.sent, skipped: term.skipped, done };
}

/** The whole SIGTERM → grace → SIGKILL, awaited. */
export async function signalWithGrace(targets: readonly ProcIdentity[], opts: GraceOptions): Promise<GraceReceipt> {
  return (await startSignalWithGrace(targets, opts)).done;
}
