import { lstatSync, mkdirSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CompileCacheResult {
  /** `enabled`, `already-enabled` (NODE_COMPILE_CACHE), `failed`, `disabled` (NODE_DISABLE_COMPILE_CACHE), `refused`, `unavailable`. */
  status: string;
  directory?: string;
  message?: string;
}

const STATUS: Record<number, string> = {};
for (const [name, value] of Object.entries(module.constants?.compileCacheStatus ?? {}))
  STATUS[value] = name.toLowerCase().replace('_', '-');

/**
 * Node's on-disk compile cache (node:module enableCompileCache, Node >= 22.1) for the entries
 * (`dist/src/server.js`, the CLI): from the second start on, V8 reads compiled code of every
 * module instead of parsing and compiling it again. Call it before the entry imports anything
 * else: the modules it loads afterwards go through the cache.
 *
 * Where: NODE_COMPILE_CACHE when set (Node itself enabled it before this code ran), otherwise
 * `orch-watchdog-compile-cache-<uid>` in the temp dir, created 0700 and used only when it is
 * this user's own and nobody else can write it: the cache holds code this process runs, and the
 * service runs as root while /tmp is open to every local user. Never throws: on any trouble
 * (a read-only or missing temp dir, a dir someone else made) the process runs uncached.
 */
export function startCompileCache(env: NodeJS.ProcessEnv = process.env): CompileCacheResult {
  if (typeof module.enableCompileCache !== 'function') return { status: 'unavailable' };
  try {
    if (env.NODE_COMPILE_CACHE || env.NODE_DISABLE_COMPILE_CACHE) return describe(module.enableCompileCache());
    const uid = process.getuid?.() ?? 0;
    const directory = join(tmpdir(), `orch-watchdog-compile-cache-${uid}`);
    mkdirSync(directory, { mode: 0o700, recursive: true });
    const st = lstatSync(directory);
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0)
      return { status: 'refused', directory, message: 'not a directory of this user that only it can write' };
    return describe(module.enableCompileCache(directory));
  } catch (err) {
    return { status: 'failed', message: (err as Error).message };
  }
}

function describe(result: module.EnableCompileCacheResult): CompileCacheResult {
  return {
    status: STATUS[result.status] ?? String(result.status),
    ...(result.directory !== undefined ? { directory: result.directory } : {}),
    ...(result.message !== undefined ? { message: result.message } : {}),
  };
}
