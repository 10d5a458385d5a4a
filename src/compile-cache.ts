import { lstatSync, mkdirSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Node's on-disk compile cache for the entries (server, CLI), unless NODE_COMPILE_CACHE or NODE_DISABLE_COMPILE_CACHE is set
 * (Node already acted on it). The cache holds code this process runs (as root, and /tmp is open to every local user): its temp dir
 * is used only when it is this user's and nobody else can write it. Never throws: on any trouble the process runs uncached.
 */
export function startCompileCache(): void {
  if (process.env.NODE_COMPILE_CACHE || process.env.NODE_DISABLE_COMPILE_CACHE) return;
  try {
    const uid = process.getuid?.() ?? 0;
    const directory = join(tmpdir(), `orch-watchdog-compile-cache-${uid}`);
    mkdirSync(directory, { mode: 0o700, recursive: true });
    const st = lstatSync(directory);
    if (st.isDirectory() && st.uid === uid && (st.mode & 0o022) === 0) module.enableCompileCache(directory);
  } catch {
    // a read-only or missing temp dir, a dir someone else made: uncached
  }
}
