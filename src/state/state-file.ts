import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, lstatSync, realpathSync, statSync, type Stats } from 'node:fs';
import { open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

// The state file on disk: its path's trust (sshd's StrictModes), its flock, and its envelope.

const STATE_FORMAT = 'orch-watchdog-state';
const STATE_VERSION = 1;
const S_IWGRP_IWOTH = 0o022;
const S_ISVTX = 0o1000;

const modeText = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');
const errCode = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? 'error';

/** Ours and writable by nobody else, or anyone could write what is restored; sticky /tmp too (names can be taken first). */
function whyUntrusted(what: string, st: Stats, selfUid: number): string | null {
  if (st.uid !== selfUid) return `${what} is owned by uid ${st.uid}, not by the watchdog's uid ${selfUid}`;
  if ((st.mode & S_IWGRP_IWOTH) !== 0) return `${what} is writable by group or others (mode ${modeText(st.mode)})`;
  return null;
}

export type PathVerdict = { ok: true; path: string } | { ok: false; why: string };

/** Checks the file, its lock beside it and every ancestor directory: the path in the real directory, or why it is refused. */
export function checkStatePath(path: string): PathVerdict {
  try {
    return examine(path, process.getuid?.() ?? 0);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return { ok: false, why: `the directory ${dirname(path)} does not exist` };
    return { ok: false, why: `${dirname(path)} cannot be examined (${errCode(err)})` };
  }
}

// Once the directory is ours and no one else may write it or rename it away, no one else can swap a name in it:
// what is checked here is what the store then opens.
function examine(path: string, selfUid: number): PathVerdict {
  const dir = realpathSync(dirname(path));
  const dirStat = statSync(dir);
  if (!dirStat.isDirectory()) return { ok: false, why: `${dir} is not a directory` };
  let why = whyUntrusted(`the directory ${dir}`, dirStat, selfUid);
  // an ancestor may belong to root, and be world-writable when sticky: nobody else can rename the directory below it away
  for (let at = dirname(dir); why === null; at = dirname(at)) {
    const { uid, mode } = statSync(at);
    if (uid !== selfUid && uid !== 0) why = `its ancestor ${at} is owned by uid ${uid}, neither root nor the watchdog's uid ${selfUid}`;
    else if ((mode & S_IWGRP_IWOTH) !== 0 && (mode & S_ISVTX) === 0)
      why = `its ancestor ${at} is writable by group or others and not sticky (mode ${modeText(mode)})`;
    if (at === dirname(at)) break;
  }
  if (why) return { ok: false, why };
  for (const file of [join(dir, basename(path)), join(dir, `${basename(path)}.lock`)]) {
    let st: Stats;
    try {
      st = lstatSync(file);
    } catch (err) {
      if (errCode(err) === 'ENOENT') continue;
      return { ok: false, why: `${file} cannot be examined (${errCode(err)})` };
    }
    if (st.isSymbolicLink()) return { ok: false, why: `${file} is a symbolic link; point WATCHDOG_STATE_FILE at the file itself` };
    if (st.isDirectory()) return { ok: false, why: `${file} names a directory; WATCHDOG_STATE_FILE is the path of a file in it` };
    if (!st.isFile()) return { ok: false, why: `${file} is not a regular file` };
    const bad = whyUntrusted(file, st, selfUid);
    if (bad) return { ok: false, why: bad };
  }
  return { ok: true, path: join(dir, basename(path)) };
}

/** `held`: `file` holds the exclusive lock until it is closed (or we die); `previousPid` is the last holder's. */
export type LockResult =
  | { kind: 'held'; file: FileHandle; previousPid: number | null }
  | { kind: 'busy'; holderPid: number | null }
  | { kind: 'refused'; why: string };

async function readPid(file: FileHandle): Promise<number | null> {
  const { buffer, bytesRead } = await file.read(Buffer.alloc(32), 0, 32, 0);
  const m = /^(\d{1,10})\s*$/.exec(buffer.toString('latin1', 0, bytesRead));
  return m ? Number(m[1]) : null;
}

// Node has no flock: `flock -n -x 3` on our fd as the child's fd 3. The lock belongs to the open file
// description, so it stays ours after the child exits and ends when our fd closes (or we die).
function flockFd(fd: number): Promise<{ code: number | null; why: string }> {
  return new Promise((resolve) => {
    const child = spawn('flock', ['-n', '-x', '3'], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
      env: { PATH: `${process.env.PATH ?? ''}:/usr/bin:/bin` },
      timeout: 10_000,
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err: NodeJS.ErrnoException) => resolve({ code: null, why: `flock(1) could not run (${err.code ?? err.message})` }));
    child.on('close', (code) => resolve({ code, why: `flock(1) failed (${stderr.trim() || `exit ${code}`})` }));
  });
}

/** Takes `lockPath` (0600, never through a symlink) without waiting; exit 1 of flock(1) is another holder. */
export async function lockStateFile(lockPath: string): Promise<LockResult> {
  let file: FileHandle;
  try {
    file = await open(lockPath, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    return { kind: 'refused', why: `${lockPath} cannot be opened (${errCode(err)})` };
  }
  const flock = await flockFd(file.fd);
  if (flock.code !== 0) {
    const holderPid = await readPid(file);
    await file.close();
    return flock.code === 1 ? { kind: 'busy', holderPid } : { kind: 'refused', why: `${lockPath} cannot be locked: ${flock.why}` };
  }
  const previousPid = await readPid(file);
  await file.truncate(0);
  await file.write(`${process.pid}\n`, 0);
  return { kind: 'held', file, previousPid };
}

/** `unusable`: our own file, damaged (moved aside); `refused`: not a file we may trust or replace (left alone). */
export type ReadResult =
  | { kind: 'absent' }
  | { kind: 'ok'; sections: Record<string, unknown>; pid: number | null }
  | { kind: 'unusable'; why: string }
  | { kind: 'refused'; why: string };

const TEMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Reads and checks the envelope (never through a symlink, never blocking on a FIFO); a section's content is its own business. */
export async function readStateFile(path: string): Promise<ReadResult> {
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', flag: constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK });
  } catch (err) {
    const code = errCode(err);
    return code === 'ENOENT' ? { kind: 'absent' } : { kind: 'refused', why: `${path} cannot be read (${code})` };
  }
  let doc: { format?: unknown; version?: unknown; pid?: unknown; sections?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    return { kind: 'unusable', why: `is not valid JSON (${text.length} bytes; truncated or corrupt)` };
  }
  if (typeof doc !== 'object' || doc?.format !== STATE_FORMAT) return { kind: 'unusable', why: 'is not an orch-watchdog state file' };
  if (doc.version !== STATE_VERSION)
    return { kind: 'unusable', why: `has version ${String(doc.version)}, this watchdog reads ${STATE_VERSION}` };
  if (typeof doc.sections !== 'object' || doc.sections === null || Array.isArray(doc.sections))
    return { kind: 'unusable', why: 'has no sections' };
  const pid = typeof doc.pid === 'number' && Number.isSafeInteger(doc.pid) && doc.pid > 1 ? doc.pid : null;
  return { kind: 'ok', sections: doc.sections as Record<string, unknown>, pid };
}

/** Temp file, fsync, rename, fsync the directory: a crash at any point leaves the old file or the new one, whole. */
export async function writeStateFile(path: string, sections: Record<string, unknown>, nowMs: number): Promise<void> {
  // `pid`: the watchdog that wrote it; after a crash, its run cgroups (`orch-watchdog-<pid>`) are stale
  const doc = { format: STATE_FORMAT, version: STATE_VERSION, saved_at: new Date(nowMs).toISOString(), pid: process.pid, sections };
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const file = await open(tmp, TEMP_FLAGS, 0o600);
  try {
    await file
      .writeFile(JSON.stringify(doc))
      .then(() => file.sync())
      .finally(() => file.close());
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const dir = await open(dirname(path), 'r');
  await dir.sync().finally(() => dir.close());
}
