import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readlinkSync } from 'node:fs';
import { procState } from './adversarial.js';
import { waitFor } from './wait-for.js';

const SERVER = new URL('../../dist/src/server.js', import.meta.url).pathname;

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

export interface ServerProcess {
  /** The server's own pid. */
  pid: number;
  /** The process spawned: the server, or the zombie keeper above it. */
  child: ChildProcess;
  out: () => string;
  /** Resolves with the server's exit code (or the keeper's). */
  exited: Promise<number | null>;
}

export interface StartOptions {
  /** Start it below a parent that keeps it a zombie once it dies. */
  keepZombie?: boolean;
}

/** `node dist/src/server.js` with `env` on top of ours; stdout and stderr collected. */
export async function spawnServer(env: Record<string, string>, opts: StartOptions = {}): Promise<ServerProcess> {
  const argv = opts.keepZombie ? ['/usr/bin/python3', '-c', ZOMBIE_KEEPER, process.execPath, SERVER] : [process.execPath, SERVER];
  const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  let pid = child.pid!;
  if (opts.keepZombie) {
    await waitFor('the keeper to name the server pid', () => /server-pid \d+/.test(out), { timeoutMs: 30_000, describe: () => out });
    pid = Number(/server-pid (\d+)/.exec(out)![1]);
  }
  return { pid, child, out: () => out, exited };
}

/** The address once the server listens. */
export async function listening(server: ServerProcess): Promise<string> {
  await waitFor('the server to listen', () => /"address":"http:\/\/127\.0\.0\.1:\d+"/.test(server.out()), {
    timeoutMs: 60_000,
    describe: server.out,
  });
  return /"address":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(server.out())![1]!;
}

/** Running (a zombie waiting for its reaper counts as gone). */
export const isAlive = (pid: number): boolean => {
  const state = procState(pid);
  return state !== null && state !== 'Z' && state !== 'X';
};

/** Test cleanup: the server (below a keeper too) and its keeper, whatever state the test left them in. */
export function killServer(server: ServerProcess): void {
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
