import { spawn, type ChildProcessByStdio, type IOType } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readlinkSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { procState } from './adversarial.js';
import { waitFor } from './wait-for.js';

/** The built server (global-setup compiles dist/ before any test runs). */
export const SERVER = new URL('../../dist/src/server.js', import.meta.url).pathname;

/**
 * A parent that never reaps its child until it is killed itself: the server it starts stays a
 * zombie after a kill -9, as a watchdog does for a moment under a slow supervisor.
 */
const ZOMBIE_KEEPER = [
  'import subprocess, sys, time',
  'p = subprocess.Popen(sys.argv[1:])',
  'sys.stderr.write("server-pid %d\\n" % p.pid); sys.stderr.flush()',
  'time.sleep(3600)',
].join('\n');

/** The real server process (`node dist/src/server.js`), listening or not. */
export interface SpawnedServer {
  /** The process spawned: the server, or the zombie keeper above it. */
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** The server's own pid. */
  pid: number;
  /** stdout then stderr so far. */
  out: () => string;
  /** The last lines of stdout and stderr, for a failure message. */
  tail: () => string;
  /** Resolves with the exit code of the process spawned. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL when it has not exited within 10 s. */
  stop: () => Promise<void>;
}

/** A server that listens. */
export interface ServerProcess extends SpawnedServer {
  /** `http://127.0.0.1:PORT`, read from the listening log line. */
  address: string;
}

export interface SpawnOptions {
  /** fds 3, 4, ... the server inherits without knowing, as from a careless parent. */
  extraStdio?: IOType[];
  /** Start it below a parent that keeps it a zombie once it dies. */
  keepZombie?: boolean;
  /** Run it through util-linux setpriv as that uid:gid, with no supplementary groups (an ordinary user's `npm start`). */
  asUser?: { uid: number; gid: number };
}

/** Starts the server with `env` over this process's environment (a free loopback port, LOG_LEVEL info); does not wait. */
export async function spawnServer(env: Record<string, string>, opts: SpawnOptions = {}): Promise<SpawnedServer> {
  let argv = [process.execPath, SERVER];
  if (opts.asUser) argv = ['setpriv', `--reuid=${opts.asUser.uid}`, `--regid=${opts.asUser.gid}`, '--clear-groups', '--', ...argv];
  if (opts.keepZombie) argv = ['/usr/bin/python3', '-c', ZOMBIE_KEEPER, ...argv];
  const child = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, WATCHDOG_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe', ...(opts.extraStdio ?? [])],
  }) as ChildProcessByStdio<null, Readable, Readable>;
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const tail = () => `--- stdout ---\n${out.split('\n').slice(-20).join('\n')}\n--- stderr ---\n${err.slice(-4000)}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  let pid = child.pid!;
  if (opts.keepZombie) {
    await waitFor('the keeper to name the server pid', () => /server-pid \d+/.test(err), { timeoutMs: 30_000, describe: tail });
    pid = Number(/server-pid (\d+)/.exec(err)![1]);
  }
  return { child, pid, out: () => out + err, tail, exited, stop };
}

const LISTENING = /"address":"(http:\/\/127\.0\.0\.1:\d+)"/;

/** The address once the server listens (60 s: a loaded 2-core host); throws when it exits first. */
export async function listening(server: SpawnedServer): Promise<string> {
  const hasExited = () => server.child.exitCode !== null || server.child.signalCode !== null;
  await waitFor('the server to listen', () => LISTENING.test(server.out()) || hasExited(), { timeoutMs: 60_000, describe: server.tail });
  const address = LISTENING.exec(server.out())?.[1];
  if (!address) throw new Error(`the server exited before it listened\n${server.tail()}`);
  return address;
}

/** Starts the server and waits until it listens (LOG_LEVEL info or lower); stopped again when it does not. */
export async function startServerProcess(
  env: Record<string, string>,
  extraStdio: IOType[] = [],
  opts: { asUser?: { uid: number; gid: number } } = {},
): Promise<ServerProcess> {
  const server = await spawnServer(env, { extraStdio, ...opts });
  try {
    return { ...server, address: await listening(server) };
  } catch (e) {
    await server.stop();
    throw e;
  }
}

/** Running (a zombie waiting for its reaper counts as gone). */
export const isAlive = (pid: number): boolean => {
  const state = procState(pid);
  return state !== null && state !== 'Z' && state !== 'X';
};

/** Test cleanup: the server (below a keeper too) and its keeper, whatever state the test left them in. */
export function killServer(server: SpawnedServer): void {
  if (server.pid !== server.child.pid && isAlive(server.pid)) process.kill(server.pid, 'SIGKILL');
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
}

/** Test cleanup: every process still working in `dir` (a re-test's tree a failed test left behind). */
export function killWorkingIn(dir: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd === dir || cwd.startsWith(`${dir}/`)) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // gone, or not ours to read
    }
  }
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
