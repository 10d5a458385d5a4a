import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runProcess } from '../../src/runner/run.js';
import { decodeWaitStatus } from '../../src/runner/spawn.js';

const sh = (script: string, extra: Record<string, unknown> = {}) =>
  runProcess({ command: ['/bin/sh', '-c', script], timeoutMs: 10_000, graceMs: 300, ...extra });

describe('ProcResult of a command that finishes', () => {
  for (const strategy of ['cgroup', 'subreaper', 'proc-sweep'] as const) {
    it(`${strategy}: exit code, stdout and stderr pass through`, async () => {
      const report = await sh('echo out; echo err >&2; exit 3', { strategy });
      expect(report.strategy).toBe(strategy);
      expect(report.result).toMatchObject({ returncode: 3, signal: null, stdout: 'out\n', stderr: 'err\n', timed_out: false });
      expect(report.result.duration_s).toBeGreaterThan(0);
      // seconds to the microsecond, never float noise like 0.017648542000000815 in the API
      expect(String(report.result.duration_s)).toMatch(/^\d+(\.\d{1,6})?$/);
    });

    it(`${strategy}: a command killed by a signal reports the signal, no exit code`, async () => {
      const report = await sh('kill -SEGV $$', { strategy });
      expect(report.result).toMatchObject({ returncode: null, signal: 'SIGSEGV', timed_out: false });
    });
  }

  it('runs in the given cwd with the given environment, argv untouched by any shell', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'owd-cwd-'));
    const report = await runProcess({
      command: ['/bin/sh', '-c', 'pwd; echo "$X"; printf "%s|" "$@"', 'sh', 'a b', '$HOME', ';rm -rf /'],
      cwd: dir,
      env: { PATH: process.env.PATH, X: 'from-env' },
      timeoutMs: 10_000,
      graceMs: 300,
    });
    expect(report.result.stdout).toBe(`${dir}\nfrom-env\na b|$HOME|;rm -rf /|`);
  });
});

describe('the runner never throws', () => {
  it('a missing program: returncode null, the reason in stderr, nothing spawned', async () => {
    const report = await runProcess({ command: ['definitely-not-a-program-xyz'], timeoutMs: 1000, graceMs: 100 });
    expect(report.spawnError).toBe('ENOENT');
    expect(report.result).toMatchObject({ returncode: null, signal: null, timed_out: false });
    expect(report.result.stderr).toMatch(/definitely-not-a-program-xyz: command not found/);
  });

  it('a file without execute permission: EACCES', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'owd-noexec-'));
    writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o644 });
    const report = await runProcess({ command: ['./run.sh'], cwd: dir, timeoutMs: 1000, graceMs: 100 });
    expect(report.spawnError).toBe('EACCES');
    expect(report.result.returncode).toBeNull();
  });

  it('a missing cwd', async () => {
    const report = await runProcess({ command: ['true'], cwd: '/nonexistent/dir', timeoutMs: 1000, graceMs: 100 });
    expect(report.spawnError).toBe('ENOENT');
    expect(report.result.stderr).toMatch(/cwd \/nonexistent\/dir does not exist/);
  });

  it('an empty command', async () => {
    const report = await runProcess({ command: [], timeoutMs: 1000, graceMs: 100 });
    expect(report.spawnError).toBe('EINVAL');
  });

  it('an argument with a NUL byte', async () => {
    const report = await runProcess({ command: ['/bin/echo', 'a\0b'], timeoutMs: 1000, graceMs: 100 });
    expect(report.result.returncode).toBeNull();
    expect(report.spawnError).not.toBeNull();
  });
});

describe('timeout', () => {
  it('a sleeping command is stopped at its budget: timed_out, SIGTERM, duration ≈ budget', async () => {
    const report = await runProcess({ command: ['sleep', '30'], timeoutMs: 500, graceMs: 300 });
    expect(report.result).toMatchObject({ timed_out: true, returncode: null, signal: 'SIGTERM' });
    expect(report.result.duration_s).toBeGreaterThanOrEqual(0.5);
    // Far below the 30 s sleep; the margin is for a 2-core CI host under heavy load.
    expect(report.result.duration_s).toBeLessThan(15);
  });

  it('a leader that ignores SIGTERM gets SIGKILL after the grace', async () => {
    const report = await sh('trap "" TERM; while :; do sleep 0.05; done', { timeoutMs: 300, graceMs: 300 });
    expect(report.result).toMatchObject({ timed_out: true, signal: 'SIGKILL' });
    expect(report.kill!.killS).toBeGreaterThanOrEqual(0.3);
  });
});

describe('abort (server shutdown, CLI signal)', () => {
  it('an abort that arrives while the run is still starting kills it all the same', async () => {
    const abort = new AbortController();
    const pending = runProcess({ command: ['sleep', '30'], timeoutMs: 20_000, graceMs: 200, abortSignal: abort.signal });
    abort.abort();
    const report = await pending;
    expect(report.aborted).toBe(true);
    expect(report.result.signal).toBe('SIGTERM');
    expect(report.result.timed_out).toBe(false);
    expect(report.result.duration_s).toBeLessThan(15);
  });

  it('an abort before the call starts nothing', async () => {
    const abort = new AbortController();
    abort.abort();
    const report = await runProcess({ command: ['sleep', '30'], timeoutMs: 20_000, graceMs: 200, abortSignal: abort.signal });
    expect(report.spawnError).toBe('EABORTED');
  });
});

describe('wait status decoding (subreaper helper report)', () => {
  it('exit codes and signals', () => {
    expect(decodeWaitStatus(0)).toEqual({ code: 0, signal: null });
    expect(decodeWaitStatus(3 << 8)).toEqual({ code: 3, signal: null });
    expect(decodeWaitStatus(15)).toEqual({ code: null, signal: 'SIGTERM' });
    expect(decodeWaitStatus(9 | 0x80)).toEqual({ code: null, signal: 'SIGKILL' });
  });
});

describe('the facts classify needs for infra, on the report', () => {
  it('a SIGKILL the gate did not send (the OOM killer, say) is not ours: killedByGate false', async () => {
    const report = await sh('kill -KILL $$');
    expect(report.result.signal).toBe('SIGKILL');
    expect(report.killedByGate).toBe(false);
    expect(report.oomKilled).toBe(false);
    expect(report.spawnError).toBeNull();
  });

  it('a timeout kill is ours: killedByGate true, and the receipt names the leader', async () => {
    const report = await sh('trap "" TERM; while :; do sleep 0.05; done', { timeoutMs: 300, graceMs: 200 });
    expect(report.result.signal).toBe('SIGKILL');
    expect(report.killedByGate).toBe(true);
    expect(report.receipt.processes.some((p) => p.comm === 'sh' && p.signal === 'SIGKILL')).toBe(true);
    expect(report.receipt.confirmedDead).toBe(report.receipt.processes.length);
  });

  it('exit 126 and 127 from inside the command pass through as return codes', async () => {
    expect((await sh('exit 127')).result.returncode).toBe(127);
    expect((await sh('exit 126')).result.returncode).toBe(126);
  });

  it('a command that cannot be spawned says so in spawnError, with an empty receipt', async () => {
    const report = await runProcess({ command: ['no-such-program-xyz'], timeoutMs: 1000, graceMs: 100 });
    expect(report.spawnError).toBe('ENOENT');
    expect(report.receipt).toEqual({ strategy: 'single', processes: [], confirmedDead: 0, survivors: [] });
  });
});
