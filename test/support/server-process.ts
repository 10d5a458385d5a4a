import { spawn, type ChildProcessByStdio, type IOType } from 'node:child_process';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { waitFor } from './wait-for.js';

/** The built server (global-setup compiles dist/ before any test runs). */
export const SERVER = new URL('../../dist/src/server.js', import.meta.url).pathname;

/** The real server process (`node dist/src/server.js`) on a free loopback port. */
export interface ServerProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** `http://127.0.0.1:PORT`, read from the listening log line. */
  address: string;
  /** The last lines of stdout and stderr, for a failure message. */
  tail(): string;
  /** SIGTERM, then SIGKILL when it has not exited within 10 s. */
  stop(): Promise<void>;
}

/**
 * Starts the server with `env` over this process's environment; waits (60 s: a loaded 2-core host) until it logs that it listens (LOG_LEVEL info or lower).
 * `extraStdio`: fds 3, 4, ... the server inherits without knowing, as from a careless parent.
 * `asUser`: runs it through util-linux setpriv as that uid:gid, with no supplementary groups (an ordinary user's `npm start`).
 */
export async function startServerProcess(
  env: Record<string, string>,
  extraStdio: IOType[] = [],
  opts: { asUser?: { uid: number; gid: number } } = {},
): Promise<ServerProcess> {
  const argv = opts.asUser
    ? ['setpriv', `--reuid=${opts.asUser.uid}`, `--regid=${opts.asUser.gid}`, '--clear-groups', '--', process.execPath, SERVER]
    : [process.execPath, SERVER];
  const child = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, WATCHDOG_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe', ...extraStdio],
  }) as ChildProcessByStdio<null, Readable, Readable>;
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const tail = () => `--- stdout ---\n${out.split('\n').slice(-20).join('\n')}\n--- stderr ---\n${err.slice(-4000)}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const listening = /"address":"(http:\/\/127\.0\.0\.1:\d+)"/;
  try {
    await waitFor('the server to listen', () => listening.test(out) || child.exitCode !== null, { timeoutMs: 60_000, describe: tail });
  } catch (e) {
    await stop();
    throw e;
  }
  const address = listening.exec(out)?.[1];
  if (!address) throw new Error(`the server exited before it listened\n${tail()}`);
  return { child, address, tail, stop };
}

/** GET `path` of the server, its JSON body. */
export async function getJson<T>(server: ServerProcess, path: string): Promise<T> {
  return (await (await fetch(`${server.address}${path}`)).json()) as T;
}

/** POST `path` with the bearer `token`; a body is sent as JSON. */
export function postJson(server: ServerProcess, path: string, token: string, body?: object): Promise<Response> {
  return fetch(`${server.address}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
}

export type ServerChild = ChildProcessByStdio<null, Readable, Readable>;

/** A server started by `startServer`, read through its log. */
export interface LoggedServer {
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
export function startServer(env: Record<string, string>, prefix: string[] = []): LoggedServer {
  const [command, ...args] = [...prefix, process.execPath, SERVER];
  const child = spawn(command, args, { env: { ...process.env, WATCHDOG_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const tail = () => `--- stdout ---\n${out.split('\n').slice(-20).join('\n')}\n--- stderr ---\n${err}`;
  const server: LoggedServer = {
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
