import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export const STATE_FORMAT = 'orch-watchdog-state';
export const STATE_VERSION = 1;

export interface StateDocument {
  format: typeof STATE_FORMAT;
  version: number;
  saved_at: string;
  sections: Record<string, unknown>;
}

export type ReadResult = { kind: 'absent' } | { kind: 'ok'; sections: Record<string, unknown> } | { kind: 'unusable'; why: string };

/** Reads and checks the envelope; what is inside a section is the section's own business. */
export async function readStateFile(path: string): Promise<ReadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    return { kind: 'unusable', why: `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
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
  if (typeof doc.sections !== 'object' || doc.sections === null) return { kind: 'unusable', why: 'has no sections' };
  return { kind: 'ok', sections: doc.sections };
}

/**
 * Temp file in the same directory, fsync, rename over the old one, fsync the directory: a
 * crash (kill -9, power loss) at any point leaves either the old file or the new one, whole.
 */
export async function writeStateFile(path: string, sections: Record<string, unknown>, nowMs: number): Promise<void> {
  const doc: StateDocument = { format: STATE_FORMAT, version: STATE_VERSION, saved_at: new Date(nowMs).toISOString(), sections };
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const file = await open(tmp, 'w', 0o600);
  try {
    await file.writeFile(JSON.stringify(doc));
    await file.sync();
  } finally {
    await file.close();
  }
  try {
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
