import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { waitFor } from './wait-for.js';

/** The compiled server (test/global-setup.ts builds dist/ before any test). */
export const SERVER = new URL('../../dist/src/server.js', import.meta.url).pathname;

export interface ServerProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** Everything the server wrote to stdout so far (JSON log lines). */
  out(): string;
  /** Waits (30 s: a start took 14 s on a loaded 2-core host) until stdout matches `pattern`; returns the match. */
  waitForLog(what: string, pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** The base URL from the "listening" log line, once it is there. */
  address(): Promise<string>;
  /** SIGTERM, then the exit code (SIGKILL when it does not end within 15 s). */
  stop(): Promise<number | null>;
}

/**
 * `node dist/src/server.js` with `env` on top of this process's environment (WATCHDOG_PORT 0 unless
 * given); `asUser` runs it through util-linux setpriv as that uid:gid, with no supplementary groups.
 */
export function startServer(env: Record<string, string>, opts: { asUser?: { uid: number; gid: number } } = {}): ServerProcess {
  const argv = opts.asUser
    ? ['setpriv', `--reuid=${opts.asUser.uid}`, `--regid=${opts.asUser.gid}`, '--clear-groups', '--', process.execPath, SERVER]
    : [process.execPath, SERVER];
  const child = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, WATCHDOG_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
      return (await server.waitForLog('the listening line', /"address":"(http:\/\/[^"]+)"/))[1]!;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const [code] = (await exited) as [number | null];
      clearTimeout(force);
      return code;
    },
  };
  return server;
}
