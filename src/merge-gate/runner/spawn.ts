import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { ControlChannel } from './leader-status.js';
import { TailBuffer } from './output-cap.js';
import { findOnPath } from './subreaper.js';

export interface StartError {
  code: string;
  message: string;
}

/** Finds why `command` cannot start before anything is spawned: a clear error, not a shell's 127. */
export function checkExecutable(command: string[], cwd: string, env: NodeJS.ProcessEnv): StartError | null {
  const name = command[0];
  if (name === undefined || name === '') return { code: 'EINVAL', message: 'command is empty' };
  let path: string | null;
  if (name.includes('/')) path = isAbsolute(name) ? name : resolve(cwd, name);
  else path = findOnPath(name, env.PATH ?? '');
  if (!path) return { code: 'ENOENT', message: `${name}: command not found` };
  try {
    if (!statSync(path).isFile()) return { code: 'EACCES', message: `${name}: not a regular file` };
    accessSync(path, fsConstants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EACCES';
    return { code, message: `${name}: ${code === 'ENOENT' ? 'no such file' : 'permission denied'}` };
  }
  return null;
}

export function checkCwd(cwd: string): StartError | null {
  try {
    return statSync(cwd).isDirectory() ? null : { code: 'ENOTDIR', message: `cwd ${cwd} is not a directory` };
  } catch {
    return { code: 'ENOENT', message: `cwd ${cwd} does not exist` };
  }
}

export interface SpawnOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** The CLI: the caller's own stdio, nothing captured. */
  inheritStdio: boolean;
  /** fds 3, 4, ... as socketpairs: the subreaper helper's reports, the cgroup wrapper's join handshake. */
  controlFds: number;
  outputCapBytes: number;
}

export interface Spawned {
  child: ChildProcess;
  pid: number;
  /** One per control fd, fd 3 first. */
  controls: ControlChannel[];
  stdout: TailBuffer;
  stderr: TailBuffer;
  /** Resolves when both pipes closed (every holder of them is gone). */
  pipesClosed: Promise<void>;
}

/** Spawns `argv` detached (a new session and group); waits for the kernel's verdict on the exec. */
export async function spawnDetached(argv: string[], opts: SpawnOptions): Promise<Spawned | StartError> {
  let child: ChildProcess;
  const stdio = opts.inheritStdio ? (['inherit', 'inherit', 'inherit'] as const) : (['ignore', 'pipe', 'pipe'] as const);
  try {
    child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: [...stdio, ...Array.from({ length: opts.controlFds }, () => 'pipe' as const)],
    });
  } catch (err) {
    return { code: (err as NodeJS.ErrnoException).code ?? 'ESPAWN', message: `cannot spawn ${argv[0]}: ${(err as Error).message}` };
  }
  const failure = await new Promise<NodeJS.ErrnoException | null>((res) => {
    child.once('spawn', () => res(null));
    child.once('error', (err) => res(err));
  });
  if (failure || child.pid === undefined) {
    return { code: failure?.code ?? 'ESPAWN', message: `cannot spawn ${argv[0]}: ${failure?.message ?? 'no pid'}` };
  }
  const stdout = new TailBuffer(opts.outputCapBytes);
  const stderr = new TailBuffer(opts.outputCapBytes);
  const pipesClosed = Promise.all([collect(child.stdout, stdout), collect(child.stderr, stderr)]).then(() => undefined);
  const controls = Array.from({ length: opts.controlFds }, (_, i) => new ControlChannel(child.stdio[3 + i] as Duplex));
  return { child, pid: child.pid, controls, stdout, stderr, pipesClosed };
}

function collect(stream: NodeJS.ReadableStream | null, into: TailBuffer): Promise<void> {
  return new Promise<void>((res) => {
    if (!stream) return res();
    stream.on('data', (chunk: Buffer) => into.push(chunk));
    stream.once('close', () => res());
    stream.once('error', () => res());
  });
}

export function isStartError(value: Spawned | StartError): value is StartError {
  return 'code' in value;
}
