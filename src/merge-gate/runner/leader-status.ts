import type { ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { Duplex } from 'node:stream';

export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

export function signalName(signo: number): string {
  const found = Object.entries(osConstants.signals).find(([, n]) => n === signo);
  return found ? found[0] : `SIG${signo}`;
}

/** Decodes a waitpid(2) status as the subreaper helper reports it. */
export function decodeWaitStatus(status: number): ExitStatus {
  const low = status & 0x7f;
  if (low === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: signalName(low) };
}

/** Lines on the child's fd 3 (a socketpair, so both ways): the cgroup wrapper's join, the helper's reports. */
export class ControlChannel {
  private buffered = '';
  private readonly lines: string[] = [];
  private readonly waiters: ((line: string | null) => void)[] = [];
  private closed = false;

  constructor(private readonly socket: Duplex) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        this.deliver(this.buffered.slice(0, nl));
        this.buffered = this.buffered.slice(nl + 1);
      }
    });
    const close = (): void => {
      this.closed = true;
      for (const waiter of this.waiters.splice(0)) waiter(null);
    };
    socket.once('close', close);
    socket.once('end', close);
    socket.once('error', close);
  }

  private deliver(line: string): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(line);
    else this.lines.push(line);
  }

  /** The next line; null when the other side closed it or `timeoutMs` passed. */
  next(timeoutMs: number): Promise<string | null> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(null);
      }, timeoutMs);
      timer.unref();
      const done = (l: string | null): void => {
        clearTimeout(timer);
        resolve(l);
      };
      this.waiters.push(done);
    });
  }

  send(line: string): void {
    if (!this.closed) this.socket.write(`${line}\n`);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** How the command ended, as far as the runner can know it. */
export type LeaderEnd =
  | { kind: 'exited'; status: ExitStatus }
  /** The subreaper helper died before it reported the command's status (someone SIGKILLed it). */
  | { kind: 'helper-died'; commandPid: number | null; helperStatus: ExitStatus };

export interface LeaderWatch {
  /** Resolves when the command's status is known, or the helper died without reporting it. */
  end: Promise<LeaderEnd>;
  /** Resolves when Node has reaped the root (the command, or the helper). */
  rootExited: Promise<void>;
  isRootReaped(): boolean;
  /** The command's pid: the root itself, or what the helper reported. */
  commandPid(): number | null;
}

/**
 * Leader status, the execa way: the child's own exit; with the subreaper helper, its fd-3
 * lines `pid N` (the command, forked and setsid'd by the helper) and `status S`.
 */
export function watchLeader(child: ChildProcess, helper: ControlChannel | null): LeaderWatch {
  let rootStatus: ExitStatus | null = null;
  const rootExited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      rootStatus = { code, signal };
      resolve();
    }),
  );
  let commandPid: number | null = helper ? null : (child.pid ?? null);
  const end = helper
    ? helperEnd(
        helper,
        rootExited,
        () => rootStatus,
        (pid) => (commandPid = pid),
      )
    : rootExited.then(() => ({ kind: 'exited' as const, status: rootStatus! }));
  return { end, rootExited, isRootReaped: () => rootStatus !== null, commandPid: () => commandPid };
}

async function helperEnd(
  helper: ControlChannel,
  rootExited: Promise<void>,
  rootStatus: () => ExitStatus | null,
  onPid: (pid: number) => void,
): Promise<LeaderEnd> {
  let commandPid: number | null = null;
  for (;;) {
    // The helper writes its lines before it can exit, so a closed channel means no more lines.
    const line = await helper.next(2 ** 31 - 1);
    if (line === null) break;
    const m = /^(pid|status) (-?\d+)$/.exec(line);
    if (m?.[1] === 'pid') onPid((commandPid = Number(m[2])));
    if (m?.[1] === 'status') return { kind: 'exited', status: decodeWaitStatus(Number(m[2])) };
  }
  await rootExited;
  return { kind: 'helper-died', commandPid, helperStatus: rootStatus() ?? { code: null, signal: null } };
}
