import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;

// A copy of the package, so `npm start`'s own build writes its own dist/ and not the one other tests run.
const pkg = mkdtempSync(join(tmpdir(), 'owd-npm-start-'));
for (const f of ['package.json', 'tsconfig.json', 'tsconfig.build.json']) copyFileSync(join(ROOT, f), join(pkg, f));
for (const d of ['src', 'routes', 'scripts']) cpSync(join(ROOT, d), join(pkg, d), { recursive: true });
symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
afterAll(() => rmSync(pkg, { recursive: true, force: true }));

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

describe('npm start', () => {
  it('SIGTERM to npm (a supervisor, `docker stop`, `kill <npm pid>`) stops the server too: it used to stay behind, still listening, re-parented to init', async () => {
    const child = spawn('npm', ['start'], {
      cwd: pkg,
      env: { ...process.env, WATCHDOG_PORT: '0', WATCHDOG_TICK_S: '1', npm_config_loglevel: 'error', npm_config_update_notifier: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so a failed run can be cleaned up whole
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        process.kill(-child.pid!, 'SIGKILL');
        reject(new Error(`npm start did not listen:\n${out}`));
      }, 60_000);
      child.stdout.on('data', () => {
        const m = /"address":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(out);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
    expect(out).toMatch(/"notifiers":\["log"\]/);
    expect(await portOpen(port)).toBe(true);

    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    let open = true;
    for (let i = 0; i < 50 && open; i++) {
      open = await portOpen(port);
      if (open) await new Promise((r) => setTimeout(r, 200));
    }
    if (open) process.kill(-child.pid!, 'SIGKILL');
    expect(open, `the server still listens on ${port} after npm exited ${String(code)}:\n${out}`).toBe(false);
    expect(out).toMatch(/"msg":"stopped"/);
  }, 90_000);
});
