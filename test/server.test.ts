import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';

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
});
