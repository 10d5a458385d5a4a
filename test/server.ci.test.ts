import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeProc } from './support/fake-proc.js';
import { userOwnedDir } from './support/merge-gate.js';
import { killAll, startServer } from './support/server-process.js';
import { waitFor } from './support/wait-for.js';

afterEach(() => {
  // A failed assertion must not leave a server behind (it would keep ticking into the next file).
  killAll();
});

function threadWchans(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    try {
      return readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8');
    } catch {
      return '';
    }
  });
}

async function healthz(address: string): Promise<{ tick_count: number }> {
  return (await (await fetch(`${address}/healthz`)).json()) as { tick_count: number };
}

// Each step waits for its condition (up to 30 s on a loaded CI host), so the test limit is raised above that.
describe('the real server process', { timeout: 60_000 }, () => {
  it('listens, answers every GET route, ticks, and exits 0 on SIGTERM within 10 s', async () => {
    const server = startServer({ WATCHDOG_TICK_S: '0.2', LOG_LEVEL: 'info' });
    const address = await server.address();
    // Two ticks at 0.2 s: the loop runs, not only the first tick at start.
    await waitFor('two finished ticks', async () => (await healthz(address)).tick_count >= 2, { timeoutMs: 20_000 });
    for (const path of ['/healthz', '/signals', '/alert-states', '/metrics', '/openapi.json']) {
      const status = execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${address}${path}`], { encoding: 'utf8' });
      expect(status, path).toBe('200');
    }

    const started = Date.now();
    server.child.kill('SIGTERM');
    const [code] = await once(server.child, 'exit');
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(server.out()).toMatch(/"msg":"stopped"/);
  });

  it('a malformed value does not crash the server: it falls back and says so', async () => {
    const server = startServer({ WATCHDOG_TICK_S: 'soon' });
    await server.waitForLog('the listening line', /listening/);
    expect(server.out()).toMatch(/config: WATCHDOG_TICK_S expected a non-negative number; using the default \\"30\\"/);
    server.child.kill('SIGINT');
    const [code] = await once(server.child, 'exit');
    expect(code).toBe(0);
  });

  // Incident guarded: a /proc read blocked on a hung process kept the server from exiting after
  // SIGTERM (Node's exit joins every thread) until the supervisor's SIGKILL, 30 s later under Docker.
  it('exits promptly on SIGTERM even while a /proc scan thread is blocked in a read', async () => {
    const fake = new FakeProc(Math.floor(Date.now() / 1000) - 100).add({ pid: 7, startTicks: 1, argv: ['pytest'] });
    writeFileSync(`${fake.root}/meminfo`, 'MemTotal: 1000 kB\nMemAvailable: 900 kB\n');
    rmSync(`${fake.root}/7/cmdline`);
    execFileSync('mkfifo', [`${fake.root}/7/cmdline`]); // reading it blocks until a writer comes, like a hung process
    const server = startServer({ WATCHDOG_TICK_S: '0.3', WATCHDOG_PROC_ENABLED: 'true', WATCHDOG_PROC_ROOT: fake.root });
    try {
      await server.waitForLog('a /proc scan that timed out', /collector proc did not finish/);
      // A slow worker start times the scan out too (load 30 did): wait until a thread really sits in the FIFO's open.
      await waitFor('a server thread blocked opening the FIFO', () => threadWchans(server.child.pid!).includes('wait_for_partner'), {
        timeoutMs: 30_000,
      });
      const started = Date.now();
      server.child.kill('SIGTERM');
      const [code, signal] = await once(server.child, 'exit');
      expect(Date.now() - started).toBeLessThan(10_000);
      expect({ code, signal, tail: server.out().split('\n').slice(-4).join('\n') }).toMatchObject({
        code: null,
        signal: 'SIGKILL',
        tail: expect.stringMatching(/"msg":"stopped"/),
      });
    } finally {
      server.child.kill('SIGKILL');
      fake.cleanup();
    }
  });

  // Incident guarded: /proc/pressure/cpu was read synchronously on the main thread; a read that
  // blocked froze /healthz, the ticks and SIGTERM while a re-test waited to start.
  it('a PSI file that never answers leaves /healthz answering while a re-test is queued; the re-test runs, judged by the load average', async () => {
    const fake = new FakeProc(Math.floor(Date.now() / 1000) - 100);
    writeFileSync(`${fake.root}/meminfo`, 'MemTotal: 1000 kB\nMemAvailable: 900 kB\n');
    mkdirSync(`${fake.root}/pressure`);
    execFileSync('mkfifo', [`${fake.root}/pressure/cpu`]); // a read blocks until a writer comes
    writeFileSync(`${fake.root}/pressure/memory`, 'some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n');
    const checkout = userOwnedDir();
    const token = 'psi-token';
    const server = startServer({
      WATCHDOG_TICK_S: '0.5',
      WATCHDOG_PROC_ROOT: fake.root,
      WATCHDOG_API_TOKEN: token,
      WATCHDOG_MERGE_MAX_CPU_PRESSURE: '100',
    });
    try {
      const address = await server.address();
      await server.waitForLog('the overdue PSI read', /a PSI read did not come back/);
      const posted = await fetch(`${address}/merge-gate/retests`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ repo: 'api', branch: 'main', cwd: checkout, command: ['sh', '-c', 'sleep 1; echo 1 passed'] }),
      });
      expect(posted.status).toBe(202);
      const { id } = (await posted.json()) as { id: string };
      const ticks = (await healthz(address)).tick_count;
      await waitFor('ticks go on', async () => (await healthz(address)).tick_count > ticks + 1, { timeoutMs: 30_000 });
      await waitFor(
        'the re-test ran',
        async () => ((await (await fetch(`${address}/merge-gate/retests/${id}`)).json()) as { status: string }).status === 'done',
        {
          timeoutMs: 60_000,
        },
      );
      const run = (await (await fetch(`${address}/merge-gate/retests/${id}`)).json()) as Record<string, unknown>;
      expect(run).toMatchObject({ outcome: 'pass', pressure: { cpu_stalled_share: null } });

      const started = Date.now();
      server.child.kill('SIGTERM');
      const [, signal] = await once(server.child, 'exit');
      expect(Date.now() - started).toBeLessThan(10_000);
      // Node cannot exit while a pool thread is blocked in the read: the server ends itself with SIGKILL after "stopped"
      expect({ signal, stopped: server.out().includes('"msg":"stopped"') }).toEqual({ signal: 'SIGKILL', stopped: true });
    } finally {
      server.child.kill('SIGKILL');
      fake.cleanup();
      rmSync(checkout, { recursive: true, force: true });
    }
  });
});
