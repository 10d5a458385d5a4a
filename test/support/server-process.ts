import { spawn, type ChildProcess, type IOType } from 'node:child_process';
import { waitFor } from './wait-for.js';

const SERVER = new URL('../../dist/src/server.js', import.meta.url).pathname;

export interface ServerProcess {
  child: ChildProcess;
  /** Everything the server wrote to stdout so far (JSON log lines). */
  out(): string;
  /** Waits (30 s: a start took 14 s on a loaded 2-core host) until stdout matches `pattern`; returns the match. */
  waitForLog(what: string, pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** The listening address, once the server logged it. */
  address(): Promise<string>;
}

const running: ChildProcess[] = [];

/** For afterEach: a failed assertion must not leave a server behind (it would keep ticking into the next file). */
export function killServers(): void {
  for (const child of running.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/**
 * `node dist/src/server.js` on a free port with this process's environment plus `env`.
 * `extraStdio`: fds 3, 4, ... the server inherits without knowing (as from a careless parent).
 */
export function startServer(env: Record<string, string>, extraStdio: IOType[] = []): ServerProcess {
  const child: ChildProcess = spawn(process.execPath, [SERVER], {
    env: { ...process.env, WATCHDOG_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe', ...extraStdio],
  });
  running.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const tail = () => `--- stdout ---\n${out.split('\n').slice(-20).join('\n')}\n--- stderr ---\n${err}`;
  const waitForLog = async (what: string, pattern: RegExp, timeoutMs = 30_000) => {
    await waitFor(what, () => pattern.test(out), { timeoutMs, describe: tail });
    return pattern.exec(out)!;
  };
  return {
    child,
    out: () => out,
    waitForLog,
    address: async () => (await waitForLog('the listening line', /"address":"(http:\/\/127\.0\.0\.1:\d+)"/))[1]!,
  };
}
