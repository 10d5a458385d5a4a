import { setTimeout as delay } from 'node:timers/promises';
import { isRunningState, isSameProcess, type ProcIdentity, type ProcStat } from './parse-stat.js';
import { readStat } from './read-proc.js';

export type GraceSignal = 'SIGTERM' | 'SIGKILL';

/** One signal actually sent (`at`: ms since the epoch); the merge gate's kill receipt lists the same shape. */
export interface SignalledProcess {
  pid: number;
  comm: string;
  signal: GraceSignal;
  at: number;
}

/** `reason`: 'gone', 'reused' (same pid, other starttime) or what `check` answered. */
type Skipped = { pid: number; reason: string }[];

export interface GraceReceipt {
  processes: SignalledProcess[];
  skipped: Skipped;
  /** every target is gone (or a zombie) at the end */
  confirmedDead: boolean;
}

interface GraceOptions {
  graceMs: number;
  procRoot?: string;
  /** how often the grace looks whether the targets are gone */
  pollMs?: number;
  /** how long to wait for the kernel to finish a SIGKILL */
  killWaitMs?: number;
  kill?: (pid: number, signal: GraceSignal | 0) => void;
  /** Re-asked before every signal, after the identity check: a reason refuses that signal. */
  check?: (stat: ProcStat) => string | null | Promise<string | null>;
}

/** The live process `id` still names, or null (gone, a zombie, or its pid reused). */
function liveStat(id: ProcIdentity, procRoot?: string): ProcStat | null {
  const stat = readStat(id.pid, procRoot);
  return isSameProcess(stat, id) && isRunningState(stat.state) ? stat : null;
}

/** Sends `signal` to every target that is still itself and passes `check`; the rest are skipped. */
async function signalEach(targets: readonly ProcIdentity[], signal: GraceSignal, opts: GraceOptions) {
  const kill = opts.kill ?? ((pid, sig) => process.kill(pid, sig));
  const sent: SignalledProcess[] = [];
  const skipped: Skipped = [];
  for (const id of targets) {
    const stat = readStat(id.pid, opts.procRoot);
    const isGone = stat === null || !isRunningState(stat.state);
    const refused = isGone ? 'gone' : !isSameProcess(stat, id) ? 'reused' : opts.check ? await opts.check(stat) : null;
    if (refused !== null) {
      skipped.push({ pid: id.pid, reason: refused });
      continue;
    }
    try {
      kill(id.pid, signal);
      sent.push({ pid: id.pid, comm: stat!.comm, signal, at: Date.now() });
    } catch (err) {
      const code = (err as { code?: string }).code;
      skipped.push({ pid: id.pid, reason: code === 'ESRCH' ? 'gone' : `${signal} failed: ${code ?? String(err)}` });
    }
  }
  return { sent, skipped };
}

async function waitGone(targets: readonly ProcIdentity[], untilMs: number, opts: GraceOptions): Promise<ProcIdentity[]> {
  let alive = targets.filter((id) => liveStat(id, opts.procRoot));
  while (alive.length > 0 && Date.now() < untilMs) {
    await delay(Math.max(1, Math.min(opts.pollMs ?? 100, untilMs - Date.now())), undefined, { ref: false });
    alive = alive.filter((id) => liveStat(id, opts.procRoot));
  }
  return alive;
}

/** SIGTERM → grace → SIGKILL by (pid, starttime), re-read before every signal; `done` resolves after the SIGKILLs' wait. */
export async function startSignalWithGrace(targets: readonly ProcIdentity[], opts: GraceOptions) {
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
    return { processes, skipped, confirmedDead: survivors.length === 0 };
  })();
  return { terminated: term.sent, skipped: term.skipped, done };
}

export async function signalWithGrace(targets: readonly ProcIdentity[], opts: GraceOptions): Promise<GraceReceipt> {
  return (await startSignalWithGrace(targets, opts)).done;
}
