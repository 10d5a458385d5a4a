import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PytestLab, SLOW_TEST, isLive } from '../../support/pytest-suite.js';
import { getJson, startServerProcess, type ServerProcess } from '../../support/server-process.js';
import { waitFor } from '../../support/wait-for.js';

interface Candidate {
  pid: number;
  match: string;
  run_pid: number;
}

const lab = new PytestLab();
let server: ServerProcess | undefined;
let traceDir = '';

afterAll(async () => {
  await server?.stop();
  lab.cleanup();
  if (traceDir) rmSync(traceDir, { recursive: true, force: true });
});

// The event loop must never wait on /proc (a hung process's files can block a reader): the tick's
// /proc facts are read in the scan worker, once, and the main thread only receives them.
describe('during ticks the main thread opens no /proc file', () => {
  it(
    'strace of the real server’s main thread over several ticks with a live pytest run and a leftover finds no /proc path',
    { timeout: 240_000 },
    async () => {
      const live = lab.suite({ 'test_slow.py': SLOW_TEST });
      const liveRun = await lab.pytestBelow(lab.wrapped(live).pid!);
      const { pytest: killed, server: leftover } = await lab.leavingRun();

      server = await startServerProcess({
        LOG_LEVEL: 'info',
        WATCHDOG_TICK_S: '0.3',
        WATCHDOG_PROC_ENABLED: 'true',
        WATCHDOG_PROC_AGE_MIN: '0.0005',
        WATCHDOG_PROC_LEFTOVER_GRACE_S: '0',
      });
      const candidates = async (): Promise<Candidate[]> =>
        (await getJson<{ candidates: Candidate[] }>(server!, '/proc/candidates')).candidates;
      await waitFor(
        'the runs to be candidates',
        async () => {
          const pids = (await candidates()).map((c) => c.pid);
          return pids.includes(liveRun.pid) && pids.includes(killed.pid);
        },
        { timeoutMs: 60_000 },
      );
      process.kill(killed.pid, 'SIGKILL');
      await waitFor('pytest to be gone', () => !isLive(killed.pid), { timeoutMs: 60_000 });
      await waitFor(
        'its fixture server listed as a leftover',
        async () => (await candidates()).some((c) => c.pid === leftover && c.match === 'leftover' && c.run_pid === killed.pid),
        { timeoutMs: 60_000 },
      );

      // `strace -p PID` without -f traces the thread whose tid is PID: the main thread, not the scan worker or the thread pool
      traceDir = mkdtempSync(join(tmpdir(), 'owd-strace-'));
      const out = join(traceDir, 'main-thread.trace');
      const strace = spawn('strace', ['-p', String(server.child.pid), '-e', 'trace=%file,epoll_wait,epoll_pwait', '-o', out], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let straceErr = '';
      strace.stderr.on('data', (d: Buffer) => (straceErr += d.toString()));
      await waitFor('strace to attach', () => straceErr.includes('attached') || strace.exitCode !== null, {
        timeoutMs: 60_000,
        describe: () => straceErr,
      });
      expect(strace.exitCode).toBeNull();
      const tickCount = async (): Promise<number> => (await getJson<{ tick_count: number }>(server!, '/healthz')).tick_count;
      const from = await tickCount();
      await waitFor('four more ticks under strace', async () => (await tickCount()) >= from + 5, { timeoutMs: 60_000 });
      strace.kill('SIGINT');
      await new Promise((resolve) => strace.once('exit', resolve));

      const lines = readFileSync(out, 'utf8').split('\n');
      // it traced the event loop's own thread
      expect(lines.some((l) => /^epoll_p?wait\(/.test(l))).toBe(true);
      // each /proc path the main thread touched, pids folded: `/proc/N/stat`, `/proc/locks`
      const procPaths = new Set(lines.flatMap((l) => [...l.matchAll(/"(\/proc\/[^"]*)"/g)].map((m) => m[1]!.replace(/\/\d+/g, '/N'))));
      expect([...procPaths].sort()).toEqual([]);
      // the scan still ran meanwhile: the leftover is listed
      expect((await candidates()).some((c) => c.pid === leftover)).toBe(true);
    },
  );
});
