import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Duplex } from 'node:stream';

export interface StartError {
  code: string;
  message: string;
}

export function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** true when `p` resolves within `ms`. */
export const within = (p: Promise<unknown>, ms: number): Promise<boolean> =>
  Promise.race([p.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref())]);

/** process.kill without the throw: false when the target is gone. */
export function trySignal(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

export function findOnPath(name: string, pathEnv = process.env.PATH ?? ''): string | null {
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** Finds why `command` cannot start before anything is spawned: a clear error, not a shell's 127. */
export function checkExecutable(command: string[], cwd: string, env: NodeJS.ProcessEnv): StartError | null {
  const name = command[0];
  if (name === undefined || name === '') return { code: 'EINVAL', message: 'command is empty' };
  const path = name.includes('/') ? (isAbsolute(name) ? name : resolve(cwd, name)) : findOnPath(name, env.PATH ?? '');
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

export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

/** Decodes a waitpid(2) status as the subreaper helper reports it. */
export function decodeWaitStatus(status: number): ExitStatus {
  const low = status & 0x7f;
  if (low === 0) return { code: (status >> 8) & 0xff, signal: null };
  const name = Object.entries(osConstants.signals).find(([, n]) => n === low)?.[0];
  return { code: null, signal: name ?? `SIG${low}` };
}

/** Keeps the last `capBytes` bytes written to it: a chatty suite must not exhaust memory. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private heldBytes = 0;
  private droppedBytes = 0;

  constructor(private readonly capBytes = 1024 * 1024) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.heldBytes += chunk.length;
    while (this.chunks.length > 1 && this.heldBytes - this.chunks[0]!.length >= this.capBytes) {
      const dropped = this.chunks.shift()!;
      this.heldBytes -= dropped.length;
      this.droppedBytes += dropped.length;
    }
  }

  /** The kept tail as text, headed by a note when the start was dropped. */
  text(): string {
    let all = Buffer.concat(this.chunks, this.heldBytes);
    let dropped = this.droppedBytes;
    if (all.length > this.capBytes) {
      dropped += all.length - this.capBytes;
      all = all.subarray(all.length - this.capBytes);
    }
    const body = all.toString('utf8');
    return dropped > 0 ? `[orch-watchdog: first ${dropped} bytes dropped, last ${this.capBytes} kept]\n${body}` : body;
  }
}

/** Lines on one of the child's control fds (a socketpair, so both ways): the cgroup wrapper's join, the helper's reports. */
export class ControlChannel {
  private readonly lines: AsyncIterator<string>;

  constructor(private readonly socket: Duplex) {
    // Iterating from the start: a line that comes before anyone asks is kept, not lost.
    this.lines = createInterface({ input: socket, crlfDelay: Infinity })[Symbol.asyncIterator]();
    // A peer that dies mid-write (EPIPE) just ends the lines.
    socket.on('error', () => undefined);
  }

  /** The next line; null when the other side closed it or `timeoutMs` passed (the channel is not read again then). */
  next(timeoutMs?: number): Promise<string | null> {
    const line = this.lines.next().then(
      (r) => (r.done ? null : r.value),
      () => null,
    );
    if (timeoutMs === undefined) return line;
    return Promise.race([line, new Promise<null>((resolve) => setTimeout(() => resolve(null), timeoutMs).unref())]);
  }

  send(line: string): void {
    if (this.socket.writable) this.socket.write(`${line}\n`);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** `inheritStdio`: the CLI's own stdio, nothing captured; `controlFds`: fds 3, 4, ... as socketpairs (helper reports, join handshake). */
export interface SpawnOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  inheritStdio: boolean;
  controlFds: number;
}

/** `controls`: one per control fd, fd 3 first; `pipesClosed`: every holder of stdout and stderr is gone. */
export interface Spawned {
  child: ChildProcess;
  pid: number;
  controls: ControlChannel[];
  stdout: TailBuffer;
  stderr: TailBuffer;
  pipesClosed: Promise<void>;
}

/** Spawns `argv` detached (a new session and group); waits for the kernel's verdict on the exec. */
export async function spawnDetached(argv: string[], opts: SpawnOptions): Promise<Spawned | StartError> {
  let child: ChildProcess;
  const stdio = opts.inheritStdio ? (['inherit', 'inherit', 'inherit'] as const) : (['ignore', 'pipe', 'pipe'] as const);
  try {
    const controls = Array<'pipe'>(opts.controlFds).fill('pipe');
    child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env, detached: true, stdio: [...stdio, ...controls] });
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
  const stdout = new TailBuffer();
  const stderr = new TailBuffer();
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
