import { spawn, execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { FakeProc } from './support/fake-proc.js';

const SERVER = new URL('../dist/src/server.js', import.meta.url).pathname;

describe('the real server process', () => {
  it('listens, answers every GET route, ticks, and exits 0 on SIGTERM within 10 s', async () => {
    const child = spawn(process.execPath, [SERVER], {
      env: { ...process.env, WATCHDOG_PORT: '0', WATCHDOG_TICK_S: '0.2', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const address = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 15_000);
      child.stdout.on('data', () => {
        const m = /"address":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    await new Promise((r) => setTimeout(r, 500));
    for (const path of ['/healthz', '/signals', '/alert-states', '/metrics', '/openapi.json']) {
      const status = execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${address}${path}`], { encoding: 'utf8' });
      expect(status, path).toBe('200');
    }
    const health = JSON.parse(execFileSync('curl', ['-s', `${address}/healthz`], { encoding: 'utf8' }));
    expect(health.tick_count).toBeGreaterThanOrEqual(2);

    const started = Date.now();
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(out).toMatch(/"msg":"stopped"/);
  });

  it('a malformed value does not crash the server: it falls back and says so', async () => {
    const child = spawn(process.execPath, [SERVER], {
      env: { ...process.env, WATCHDOG_PORT: '0', WATCHDOG_TICK_S: 'soon' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(out)), 15_000);
      child.stdout.on('data', () => out.includes('listening') && (clearTimeout(timer), resolve()));
    });
    expect(out).toMatch(/config: WATCHDOG_TICK_S expected a non-negative number; using the default \\"30\\"/);
    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });

  // Incident guarded: a /proc read blocked on a hung process kept the server from exiting after
  // SIGTERM (Node's exit joins every thread) until the supervisor's SIGKILL, 30 s later under Docker.
  it('exits promptly on SIGTERM even while a /proc scan thread is blocked in a read', async () => {
    const fake = new FakeProc(Math.floor(Date.now() / 1000) - 100).add({ pid: 7, startTicks: 1, argv: ['pytest'] });
    writeFileSync(`${fake.root}/meminfo`, 'MemTotal: 1000 kB\nMemAvailable: 900 kB\n');
    rmSync(`${fake.root}/7/cmdline`);
    execFileSync('mkfifo', [`${fake.root}/7/cmdline`]); // reading it blocks until a writer comes, like a hung process
    const child = spawn(process.execPath, [SERVER], {
      env: { ...process.env, WATCHDOG_PORT: '0', WATCHDOG_TICK_S: '0.3', WATCHDOG_PROC_ENABLED: 'true', WATCHDOG_PROC_ROOT: fake.root },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no scan timed out:\n${out}`)), 20_000);
        child.stdout.on('data', () => /collector proc did not finish/.test(out) && (clearTimeout(timer), resolve()));
      });
      const started = Date.now();
      child.kill('SIGTERM');
      const [code, signal] = await once(child, 'exit');
      expect(Date.now() - started).toBeLessThan(10_000);
      expect({ code, signal, tail: out.split('\n').slice(-4).join('\n') }).toMatchObject({ code: null, signal: 'SIGKILL', tail: expect.stringMatching(/"msg":"stopped"/) });
    } finally {
      child.kill('SIGKILL');
      fake.cleanup();
    }
  });
});
