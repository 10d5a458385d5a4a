import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { waitFor } from './wait-for.js';

/** The built server (global-setup compiles dist/ before any test runs). */
export const SERVER = new URL('../../dist/src/server.js', import.meta.url).pathname;

export type ServerChild = ChildProcessByStdio<null, Readable, Readable>;

export interface ServerProcess {
  child: ServerChild;
  /** Everything the server wrote to stdout so far (JSON log lines). */
  out(): string;
  /** Waits (30 s: a start took 14 s on a loaded 2-core host) until stdout matches `pattern`; returns the match. */
  waitForLog(what: string, pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** The `http://127.0.0.1:<port>` of the listening line (waits for it). */
  address(): Promise<string>;
}

/**
 * `node dist/src/server.js` on a free port with `env` added; `prefix` runs it under another
 * command that execs it (`prlimit --nofile=…`). The caller kills what is left in its afterEach
 * (`killAll`), so a failed assertion leaves no server ticking into the next file.
 */
export function startServer(env: Record<string, string>, prefix: string[] = []): ServerProcess {
  const [command, ...args] = [...prefix, process.execPath, SERVER];
  const child = spawn(command, args, { env: { ...process.env, WATCHDOG_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const tail = () => `--- stdout ---\n${out.split('\n').slice(-20).join('\n')}\n--- stderr ---\n${err}`;
  const server: ServerProcess = {
    child,
    out: () => out,
    async waitForLog(what, pattern, timeoutMs = 30_000) {
      await waitFor(what, () => pattern.test(out), { timeoutMs, describe: tail });
      return pattern.exec(out)!;
    },
    async address() {
      const [, address = ''] = await server.waitForLog('the listening line', /"address":"(http:\/\/127\.0\.0\.1:\d+)"/);
      return address;
    },
  };
  return server;
}

const started: ServerChild[] = [];

/** SIGKILLs every server this file started that is still running. */
export function killAll(): void {
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
