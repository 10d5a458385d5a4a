import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { whyNotAFile, whyUntrusted } from './state-path.js';

export const STATE_FORMAT = 'orch-watchdog-state';
export const STATE_VERSION = 1;

export interface StateDocument {
  format: typeof STATE_FORMAT;
  version: number;
  saved_at: string;
  /** The watchdog that wrote it: after a crash, its run cgroups (`orch-watchdog-<pid>`) are stale. */
  pid: number;
  sections: Record<string, unknown>;
}

/** `unusable`: our own file, damaged (moved aside); `refused`: not a file we may trust or replace (left alone). */
export type ReadResult =
  | { kind: 'absent' }
  | { kind: 'ok'; sections: Record<string, unknown>; pid: number | null }
  | { kind: 'unusable'; why: string }
  | { kind: 'refused'; why: string };

/** Never through a symlink, never blocking on a FIFO; what was opened is checked, not the name. */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const TEMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Reads and checks the envelope; what is inside a section is the section's own business. */
export async function readStateFile(path: string, selfUid: number): Promise<ReadResult> {
  let file: FileHandle;
  try {
    file = await open(path, READ_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    if (code === 'ENOENT') return { kind: 'absent' };
    return { kind: 'refused', why: code === 'ELOOP' ? `${path} is a symbolic link` : `${path} cannot be read (${code})` };
  }
  let text: string;
  try {
    const st = await file.stat();
    const bad = whyNotAFile(path, st) ?? whyUntrusted(path, st, selfUid);
    if (bad) return { kind: 'refused', why: bad };
    text = await file.readFile('utf8');
  } catch (err) {
    return { kind: 'refused', why: `${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  } finally {
    await file.close();
  }
  let doc: Partial<StateDocument>;
  try {
    doc = JSON.parse(text) as Partial<StateDocument>;
  } catch {
    return { kind: 'unusable', why: `is not valid JSON (${text.length} bytes; truncated or corrupt)` };
  }
  if (typeof doc !== 'object' || doc?.format !== STATE_FORMAT) return { kind: 'unusable', why: 'is not an orch-watchdog state file' };
  if (doc.version !== STATE_VERSION)
    return { kind: 'unusable', why: `has version ${String(doc.version)}, this watchdog reads ${STATE_VERSION}` };
  if (typeof doc.sections !== 'object' || doc.sections === null || Array.isArray(doc.sections))
    return { kind: 'unusable', why: 'has no sections' };
  const pid = Number.isSafeInteger(doc.pid) && doc.pid! > 1 ? doc.pid! : null;
  return { kind: 'ok', sections: doc.sections, pid };
}

/** Temp file, fsync, rename, fsync the directory: a crash at any point leaves the old file or the new one, whole. */
export async function writeStateFile(path: string, sections: Record<string, unknown>, nowMs: number): Promise<void> {
  const doc: StateDocument = {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    saved_at: new Date(nowMs).toISOString(),
    pid: process.pid,
    sections,
  };
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const file = await open(tmp, TEMP_FLAGS, 0o600);
  try {
    try {
      await file.writeFile(JSON.stringify(doc));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Moves an unusable file out of the way (kept for a post-mortem), so the next start is clean. */
export async function moveAside(path: string, nowMs: number): Promise<string | null> {
  const aside = `${path}.unusable-${new Date(nowMs).toISOString().replace(/[:.]/g, '-')}`;
  try {
    await rename(path, aside);
    return aside;
  } catch {
    return null;
  }
}
