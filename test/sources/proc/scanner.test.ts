import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Scanner, type ScannerDeps, type ScannerOptions } from '../../../src/sources/proc/scanner.js';
import { FakeProc } from '../../support/fake-proc.js';

let trees: FakeProc[] = [];
afterEach(() => {
  for (const t of trees) t.cleanup();
  trees = [];
});

function tree(): FakeProc {
  const t = new FakeProc(1_700_000_000);
  trees.push(t);
  return t;
}

function scanner(root: string, over: Partial<ScannerOptions> = {}, deps: Partial<ScannerDeps> = {}) {
  let nowMs = 1_000_000;
  const s = new Scanner(
    { root, patterns: ['pytest'], exclude: [], mode: 'cmdline', recheckMs: 60_000, cmdlineMaxBytes: 4096, ...over },
    { fs, now: () => nowMs, random: () => 1, ...deps },
  );
  return { scan: () => s.scan(), advance: (ms: number) => (nowMs += ms) };
}

describe('the scan finds matching processes in a /proc tree', () => {
  it('returns only processes whose cmdline matches, with the stat fields and the parent comm', () => {
    const t = tree()
      .add({ pid: 10, comm: 'bash', startTicks: 5, argv: ['bash'] })
      .add({
        pid: 42,
        comm: 'python3',
        ppid: 10,
        pgrp: 40,
        startTicks: 900,
        utimeTicks: 250,
        stimeTicks: 50,
        argv: ['python3', '-m', 'pytest', 'tests/'],
      })
      .add({ pid: 43, comm: 'sleep', ppid: 10, startTicks: 901, argv: ['sleep', '60'] });
    const r = scanner(t.root).scan();
    expect(r.processes).toBe(3);
    expect(r.candidates).toEqual([
      expect.objectContaining({
        pid: 42,
        ppid: 10,
        pgrp: 40,
        startTicks: 900,
        utimeTicks: 250,
        stimeTicks: 50,
        argv: ['python3', '-m', 'pytest', 'tests/'],
        parentComm: 'bash',
      }),
    ]);
  });

  it('matches any of several patterns', () => {
    const t = tree()
      .add({ pid: 1, startTicks: 1, argv: ['init'] })
      .add({ pid: 2, startTicks: 2, argv: ['node', 'jest'] })
      .add({ pid: 3, startTicks: 3, argv: ['pytest'] });
    const r = scanner(t.root, { patterns: ['pytest', '\\bjest\\b'] }).scan();
    expect(r.candidates.map((c) => c.pid).sort()).toEqual([2, 3]);
  });

  // A process may call itself `a b ) ( c`; a naive split would misread its parent and start time.
  it('reads a comm holding spaces and parentheses without shifting fields', () => {
    const t = tree()
      .add({ pid: 5, comm: 'init', startTicks: 1, argv: ['init'] })
      .add({ pid: 77, comm: 'a b ) ( c', ppid: 5, startTicks: 1234, argv: ['pytest', '-x'] });
    const [c] = scanner(t.root).scan().candidates;
    expect(c).toMatchObject({ pid: 77, comm: 'a b ) ( c', ppid: 5, startTicks: 1234, parentComm: 'init' });
  });
});

describe('bad entries are skipped, counted, never thrown', () => {
  it('a stat with missing fields is a parse error and the rest of the scan goes on', () => {
    const t = tree()
      .add({ pid: 8, startTicks: 1, rawStat: '8 (pytest) S 1 8', argv: ['pytest'] })
      .add({ pid: 9, startTicks: 2, argv: ['pytest'] });
    const r = scanner(t.root).scan();
    expect(r.errors.parse).toBe(1);
    expect(r.candidates.map((c) => c.pid)).toEqual([9]);
  });

  it('an empty cmdline (kernel thread, zombie) is not a candidate and not an error', () => {
    const t = tree().add({ pid: 3, comm: 'pytest', state: 'Z', startTicks: 1, argv: [] });
    const r = scanner(t.root).scan();
    expect(r.candidates).toEqual([]);
    expect(r.errors).toEqual({ eacces: 0, parse: 0, other: 0 });
  });

  it('a non-UTF-8 cmdline becomes U+FFFD and still matches', () => {
    const argv = Buffer.concat([Buffer.from('pytest\0-k\0'), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('\0')]);
    const t = tree().add({ pid: 6, startTicks: 1, argv });
    const [c] = scanner(t.root).scan().candidates;
    expect(c?.argv).toEqual(['pytest', '-k', '\ufffd\ufffdA']);
  });

  it('a huge cmdline is read only up to the byte bound', () => {
    const t = tree().add({ pid: 6, startTicks: 1, argv: ['pytest', ...Array.from({ length: 20_000 }, (_, i) => `tests/test_${i}.py`)] });
    const [c] = scanner(t.root, { cmdlineMaxBytes: 1024 }).scan().candidates;
    expect(c?.argv[0]).toBe('pytest');
    expect(c?.argv.join('\0').length).toBeLessThanOrEqual(1024);
  });

  // The process exited between readdir and reading its stat: skip silently, it is not an error.
  it('a pid directory whose stat vanished mid-scan is skipped without an error', () => {
    const t = tree()
      .add({ pid: 11, startTicks: 1, withoutStat: true, argv: ['pytest'] })
      .add({ pid: 12, startTicks: 2, argv: ['pytest'] });
    const r = scanner(t.root).scan();
    expect(r.vanished).toBe(1);
    expect(r.errors).toEqual({ eacces: 0, parse: 0, other: 0 });
    expect(r.candidates.map((c) => c.pid)).toEqual([12]);
  });

  it('EACCES is counted by kind and the process is skipped', () => {
    const t = tree()
      .add({ pid: 21, startTicks: 1, argv: ['pytest'] })
      .add({ pid: 22, startTicks: 2, argv: ['pytest'] });
    const denied = `${t.root}/21/cmdline`;
    const guarded = {
      ...fs,
      openSync: ((path: fs.PathLike, flags: fs.OpenMode) => {
        if (path === denied) throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
        return fs.openSync(path, flags);
      }) as typeof fs.openSync,
    };
    const r = scanner(t.root, {}, { fs: guarded }).scan();
    expect(r.errors.eacces).toBe(1);
    expect(r.candidates.map((c) => c.pid)).toEqual([22]);
  });

  it('a missing WATCHDOG_PROC_ROOT throws one clear error for the tick to report', () => {
    expect(() => scanner('/nonexistent/proc').scan()).toThrow(/cannot list WATCHDOG_PROC_ROOT \/nonexistent\/proc/);
  });
});

describe('the (pid, starttime) cache', () => {
  it('does not re-read an unchanged cmdline on the next scan', () => {
    const t = tree()
      .add({ pid: 30, startTicks: 1, argv: ['pytest'] })
      .add({ pid: 31, startTicks: 2, argv: ['sleep', '9'] });
    const s = scanner(t.root);
    expect(s.scan().cmdlineReads).toBe(2);
    const second = s.scan();
    expect(second.cmdlineReads).toBe(0);
    expect(second.candidates.map((c) => c.pid)).toEqual([30]);
  });

  // An exec wrapper (`sh -c "exec pytest"`) keeps pid and starttime; caching "no match" forever missed it.
  it('re-matches a process whose comm changed after exec', () => {
    const t = tree().add({ pid: 40, comm: 'sh', startTicks: 7, argv: ['sh', '-c', 'exec python3 -m something'] });
    const s = scanner(t.root);
    expect(s.scan().candidates).toEqual([]);
    t.add({ pid: 40, comm: 'python3', startTicks: 7, argv: ['python3', '-m', 'pytest'] });
    const r = s.scan();
    expect(r.cmdlineReads).toBe(1);
    expect(r.candidates.map((c) => c.pid)).toEqual([40]);
  });

  it('re-matches after an exec of the same binary (new code address, same comm)', () => {
    const t = tree().add({ pid: 41, comm: 'python3', startTicks: 7, codeStart: 1000, argv: ['python3', 'wrapper.py'] });
    const s = scanner(t.root);
    expect(s.scan().candidates).toEqual([]);
    t.add({ pid: 41, comm: 'python3', startTicks: 7, codeStart: 2000, argv: ['python3', '-m', 'pytest'] });
    expect(s.scan().candidates.map((c) => c.pid)).toEqual([41]);
  });

  it('re-reads a cached cmdline after the re-check interval (setproctitle leaves no other trace)', () => {
    const t = tree().add({ pid: 42, comm: 'python3', startTicks: 7, argv: ['python3', 'worker'] });
    const s = scanner(t.root, { recheckMs: 30_000 });
    s.scan();
    t.add({ pid: 42, comm: 'python3', startTicks: 7, argv: ['pytest-xdist', 'worker', 'gw0'] });
    s.advance(29_000);
    expect(s.scan().candidates).toEqual([]);
    s.advance(1_000);
    expect(s.scan().candidates.map((c) => c.pid)).toEqual([42]);
  });

  it('treats a reused pid (new starttime) as a new process', () => {
    const t = tree().add({ pid: 50, comm: 'sleep', startTicks: 100, argv: ['sleep', '9'] });
    const s = scanner(t.root);
    s.scan();
    t.add({ pid: 50, comm: 'sleep', startTicks: 200, argv: ['pytest'] });
    const [c] = s.scan().candidates;
    expect(c).toMatchObject({ pid: 50, startTicks: 200 });
  });

  it('forgets processes that are gone', () => {
    const t = tree().add({ pid: 60, startTicks: 1, argv: ['pytest'] });
    const s = scanner(t.root);
    s.scan();
    t.remove(60);
    expect(s.scan().candidates).toEqual([]);
    t.add({ pid: 60, startTicks: 1, argv: ['sleep'] });
    expect(s.scan().cmdlineReads).toBe(1);
  });
});

describe('stat files kept open between scans (real /proc)', () => {
  const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

  it('re-reads through the kept fd, drops it when the process is gone, and closes every fd on close()', async () => {
    const { spawn } = await import('node:child_process');
    const marker = `held-fd-${process.pid}-${Date.now()}`;
    const child = spawn('sh', ['-c', 'sleep 30; :', marker], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 50));
      const before = openFds();
      const s = new Scanner({
        root: '/proc',
        exclude: [],
        mode: 'cmdline',
        patterns: [marker],
        recheckMs: 60_000,
        cmdlineMaxBytes: 4096,
        maxHeldFds: 100_000,
      });
      const first = s.scan();
      expect(first.candidates.map((c) => c.pid)).toEqual([child.pid]);
      expect(openFds() - before).toBeGreaterThanOrEqual(first.processes - 5); // one per process, give or take exits
      const second = s.scan();
      // only processes born since the first scan are read again (other tests may be spawning some)
      expect(second.cmdlineReads).toBeLessThan(first.cmdlineReads / 2);
      expect(second.candidates.map((c) => c.pid)).toEqual([child.pid]);

      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const third = s.scan();
      expect(third.candidates).toEqual([]);
      expect(third.errors).toEqual({ eacces: 0, parse: 0, other: 0 });

      s.close();
      expect(openFds()).toBeLessThanOrEqual(before);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('keeps at most maxHeldFds open', () => {
    const before = openFds();
    const s = new Scanner({
      root: '/proc',
      exclude: [],
      mode: 'cmdline',
      patterns: ['x^'],
      recheckMs: 60_000,
      cmdlineMaxBytes: 4096,
      maxHeldFds: 3,
    });
    s.scan();
    expect(openFds() - before).toBeLessThanOrEqual(3);
    s.close();
    expect(openFds()).toBeLessThanOrEqual(before);
  });
});

describe('heldFdBudget', () => {
  it('takes a quarter of the soft open-files limit, capped', async () => {
    const { heldFdBudgetOf } = await import('../../../src/sources/proc/scan-reads.js');
    const { openFilesSoftLimit } = await import('../../../src/proc/read-proc.js');
    const limits = (soft: string) =>
      `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                20000                files\n`;
    expect(heldFdBudgetOf(openFilesSoftLimit(limits('20000')))).toBe(5000);
    expect(heldFdBudgetOf(openFilesSoftLimit(limits('1024')))).toBe(256);
    expect(heldFdBudgetOf(openFilesSoftLimit(limits('1048576')))).toBe(16_384);
    expect(heldFdBudgetOf(openFilesSoftLimit(limits('unlimited')))).toBe(16_384);
    expect(heldFdBudgetOf(openFilesSoftLimit('garbage'))).toBe(0);
  });
});

describe('a scan that outlives the tick budget', () => {
  // A /proc read can hang (cmdline takes the target's mmap lock); the tick must get on with its life.
  it('rejects when aborted and the next scan runs on a fresh thread', async () => {
    const { ScanWorker } = await import('../../../src/sources/proc/scan-worker.js');
    const t = tree().add({ pid: 5, startTicks: 1, argv: ['pytest'] });
    const pool = new ScanWorker({
      root: t.root,
      patterns: ['pytest'],
      exclude: [],
      mode: 'cmdline',
      recheckMs: 60_000,
      cmdlineMaxBytes: 4096,
    });
    try {
      const abort = new AbortController();
      const first = pool.scan(abort.signal);
      abort.abort();
      await expect(first).rejects.toThrow(/timed out; the scan thread was replaced/);
      await expect(pool.scan(AbortSignal.abort())).rejects.toThrow(/aborted before it started/);
      expect((await pool.scan()).candidates.map((c) => c.pid)).toEqual([5]);
    } finally {
      await pool.close();
    }
  });

  // Incident guarded: a cmdline read that never returns made every tick start one more thread
  // (in a soak: +4 threads, +25 MB RSS and +12 fds every 5 s, and SIGTERM could not exit).
  it('a read blocked in the kernel holds one thread, not one more per tick; scanning resumes once it returns', async () => {
    const { ScanWorker } = await import('../../../src/sources/proc/scan-worker.js');
    const { execFileSync } = await import('node:child_process');
    const t = tree().add({ pid: 6, startTicks: 1, argv: ['sleep'] });
    const fifo = `${t.root}/7/cmdline`;
    const threads = (): number => fs.readdirSync('/proc/self/task').length;
    const pool = new ScanWorker({
      root: t.root,
      patterns: ['pytest'],
      exclude: [],
      mode: 'cmdline',
      recheckMs: 60_000,
      cmdlineMaxBytes: 4096,
    });
    try {
      // the thread is up before the budget counts: on a loaded CI host starting one took > 150 ms
      await pool.scan();
      t.add({ pid: 7, startTicks: 1, argv: ['pytest'] });
      fs.rmSync(fifo);
      execFileSync('mkfifo', [fifo]); // opening it for reading blocks until a writer comes: a hung /proc read
      const before = threads();
      const errors: string[] = [];
      for (let i = 0; i < 8; i += 1) {
        await pool.scan(AbortSignal.timeout(150)).catch((err: Error) => errors.push(err.message));
      }
      expect(errors[0]).toMatch(/timed out; the scan thread was replaced/);
      expect(errors.slice(1).filter((m) => !m.includes('still blocked in a /proc read'))).toEqual([]);
      expect(errors).toHaveLength(8);
      expect(threads() - before).toBeLessThanOrEqual(2);
      // the hung process recovers (a plain cmdline again) and the blocked read returns: the stuck thread
      // exits and the next scan runs on a fresh one
      const writer = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      fs.rmSync(fifo);
      fs.writeFileSync(fifo, 'pytest\0');
      fs.closeSync(writer);
      const r = await pool.scan(AbortSignal.timeout(5_000));
      expect(r.candidates.map((c) => c.pid)).toEqual([7]);
    } finally {
      try {
        fs.closeSync(fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
      } catch {
        // no reader left, or no longer a FIFO
      }
      await pool.close();
    }
  });
});
