import { spawn } from 'node:child_process';
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { whyNotAFile, whyUntrusted } from './state-path.js';

const FLOCK_TIMEOUT_MS = 10_000;
const FLOCK_CONFLICT = 1;

/** The exclusive lock on `<state>.lock`, held by this process's open file description until `release` (or death). */
export class StateLock {
  constructor(
    private fd: number | null,
    readonly path: string,
  ) {}

  release(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}

export type LockResult =
  | { kind: 'held'; lock: StateLock; previousPid: number | null }
  | { kind: 'busy'; holderPid: number | null }
  | { kind: 'refused'; why: string };

/** The pid written by the holder (or the last holder), if the file holds one. */
function readPid(fd: number): number | null {
  const buf = Buffer.alloc(32);
  const n = readSync(fd, buf, 0, buf.length, 0);
  const m = /^(\d{1,10})\s*$/.exec(buf.toString('latin1', 0, n));
  return m ? Number(m[1]) : null;
}

// Node has no flock: `flock -n -x 3` on our fd as the child's fd 3. The lock belongs to the open file
// description, so it stays ours after the child exits and ends when our fd closes (or we die).
function flockFd(fd: number): Promise<{ code: number | null; stderr: string } | { error: string }> {
  return new Promise((resolve) => {
    const child = spawn('flock', ['-n', '-x', '3'], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
      env: { PATH: `${process.env.PATH ?? ''}:/usr/bin:/bin` },
      timeout: FLOCK_TIMEOUT_MS,
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    child.on('close', (code) => resolve({ code, stderr: stderr.trim() }));
  });
}

/** Takes `lockPath` (0600, never through a symlink) without waiting; `held` tells whose pid it held (a dead watchdog: its runs are stale). */
export async function lockStateFile(lockPath: string, selfUid: number): Promise<LockResult> {
  let fd: number;
  try {
    fd = openSync(lockPath, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return { kind: 'refused', why: code === 'ELOOP' ? `${lockPath} is a symbolic link` : `${lockPath} cannot be opened (${code})` };
  }
  const st = fstatSync(fd);
  const bad = whyNotAFile(lockPath, st) ?? whyUntrusted(lockPath, st, selfUid);
  if (bad) {
    closeSync(fd);
    return { kind: 'refused', why: bad };
  }
  const flock = await flockFd(fd);
  if ('error' in flock || flock.code !== 0) {
    const holderPid = readPid(fd);
    closeSync(fd);
    if ('code' in flock && flock.code === FLOCK_CONFLICT) return { kind: 'busy', holderPid };
    const why = 'error' in flock ? `flock(1) could not run (${flock.error})` : `flock(1) failed (${flock.stderr || `exit ${flock.code}`})`;
    return { kind: 'refused', why: `${lockPath} cannot be locked: ${why}` };
  }
  const previousPid = readPid(fd);
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  return { kind: 'held', lock: new StateLock(fd, lockPath), previousPid };
}
