import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServerProcess } from './support/server-process.js';

// Node's compile cache (src/compile-cache.ts) for both entries: dist/src/server.js and the CLI.
// NODE_DEBUG_NATIVE=COMPILE_CACHE makes Node say, per module, whether V8 accepted the cached code.

const BIN = new URL('../bin/orch-watchdog.js', import.meta.url).pathname;
const UID = process.getuid!();
const NOBODY = 65534;
const roots: string[] = [];
afterAll(() => roots.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A fresh temp dir to be the processes' TMPDIR. */
function freshTmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'owd-compile-cache-'));
  roots.push(dir);
  return dir;
}

/** This environment without the compile cache keys of the one running the tests, plus `env`. */
function envWith(env: Record<string, string>): Record<string, string> {
  const base = { ...process.env } as Record<string, string>;
  delete base.NODE_COMPILE_CACHE;
  delete base.NODE_DISABLE_COMPILE_CACHE;
  delete base.NODE_DEBUG_NATIVE;
  return { ...base, ...env };
}

const cli = (env: Record<string, string>) =>
  new Promise<{ status: number; out: string }>((resolve) => {
    execFile(process.execPath, [BIN, 'check-config'], { encoding: 'utf8', env: envWith(env) }, (err, stdout, stderr) =>
      resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });

function filesUnder(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n += 1;
  return n;
}

const accepted = (file: string) => new RegExp(`V8 code cache for ESM file://\\S*/${file.replace(/[.]/g, '\\.')} was accepted`);

describe('compile cache', () => {
  it("the server's second start takes its modules (its own and node_modules') from the cache, a 0700 dir of its own in the temp dir", async () => {
    const tmp = freshTmp();
    const first = await startServerProcess(envWith({ TMPDIR: tmp }));
    await first.stop();
    const cache = join(tmp, `orch-watchdog-compile-cache-${UID}`);
    expect(statSync(cache).mode & 0o777).toBe(0o700);
    expect(filesUnder(cache)).toBeGreaterThan(100);

    const second = await startServerProcess(envWith({ TMPDIR: tmp, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' }));
    await second.stop();
    expect(second.out()).toMatch(accepted('dist/src/server-main.js'));
    expect(second.out()).toMatch(accepted('dist/src/app.js'));
    expect(second.out()).toMatch(/V8 code cache for (ESM file:\/\/|CommonJS )\S*\/node_modules\/fastify\/\S+ was accepted/);
  }, 120_000);

  it("the CLI's second run takes its modules from the cache too", async () => {
    const tmp = freshTmp();
    expect(await cli({ TMPDIR: tmp })).toEqual({ status: 0, out: 'configuration OK\n' });
    const second = await cli({ TMPDIR: tmp, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' });
    expect(second.status).toBe(0);
    expect(second.out).toMatch(accepted('dist/src/cli/index.js'));
    expect(second.out).toMatch(accepted('dist/src/config.js'));
  }, 60_000);

  it('NODE_COMPILE_CACHE, when set, is where the cache goes (Node enables it before the entry runs)', async () => {
    const tmp = freshTmp();
    const chosen = join(tmp, 'chosen');
    expect((await cli({ TMPDIR: tmp, NODE_COMPILE_CACHE: chosen })).status).toBe(0);
    expect(filesUnder(chosen)).toBeGreaterThan(10);
    expect(readdirSync(tmp)).toEqual(['chosen']);
  }, 60_000);

  it('a cache dir another user owns, or one others can write, is not used: the cache holds code that root runs', async () => {
    for (const [owner, mode] of [
      [NOBODY, 0o700],
      [UID, 0o777],
    ] as const) {
      const tmp = freshTmp();
      const planted = join(tmp, `orch-watchdog-compile-cache-${UID}`);
      mkdirSync(planted);
      chmodSync(planted, mode);
      chownSync(planted, owner, owner);
      const run = await cli({ TMPDIR: tmp, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' });
      expect(run.status).toBe(0);
      expect(run.out).not.toMatch(/\[compile cache\]/);
      expect(filesUnder(planted)).toBe(0);
    }
  }, 60_000);

  it('a temp dir where nothing can be created costs the cache only: the server starts and the CLI runs', async () => {
    const unusable = '/dev/null/tmp';
    expect(await cli({ TMPDIR: unusable })).toEqual({ status: 0, out: 'configuration OK\n' });
    const server = await startServerProcess(envWith({ TMPDIR: unusable }));
    const health = (await (await fetch(`${server.address}/healthz`)).json()) as { status?: string };
    await server.stop();
    expect(health.status).toBeDefined();
  }, 60_000);
});
