import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseDurationS, parseRunArgs } from '../../src/cli/run.js';
import { waitFor } from '../support/wait-for.js';
import { killRecorded, newTreeRound, recordedPids, survivors, type TreeRound } from '../support/adversarial.js';

// Each case starts Node and the command; a loaded 2-core host can take long for that.
vi.setConfig({ testTimeout: 150_000 });

const BIN = new URL('../../bin/orch-watchdog.js', import.meta.url).pathname;
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [BIN, 'run', ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 120_000 });

const rounds: TreeRound[] = [];
afterEach(() => {
  for (const round of rounds.splice(0)) {
    killRecorded(round.outDir);
    round.cleanup();
  }
});

describe('orch-watchdog run: a drop-in for timeout(1)', () => {
  it("passes the command's exit code and output through", () => {
    const r = run(['--timeout', '10', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect([r.status, r.stdout, r.stderr]).toEqual([7, 'out\n', 'err\n']);
  });

  it("the command gets the caller's stdin and stdout as they are: a reader that goes away is its own SIGPIPE (141), not a crash of run", () => {
    const pipeline = `printf 'from stdin' | "${process.execPath}" "${BIN}" run --timeout 10 -- cat; echo; "${process.execPath}" "${BIN}" run --timeout 10 -- yes | head -c 2 >/dev/null; echo "status \${PIPESTATUS[0]}"`;
    const r = spawnSync('bash', ['-c', pipeline], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout).toBe('from stdin\nstatus 141\n');
    expect(r.stderr).not.toMatch(/EPIPE/);
  });

  it('exits 0 for a passing command; the command may follow the flags without --', () => {
    const r = run(['--timeout', '10', 'true']);
    expect(r.status).toBe(0);
  });

  it('exits 124 on timeout, within the budget plus the grace', () => {
    const started = Date.now();
    const r = run(['--timeout', '0.5', '--grace', '0.2', '--', 'sleep', '30']);
    expect(r.status).toBe(124);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('a command killed by signal N exits 128+N, like a shell', () => {
    expect(run(['--timeout', '10', '--', 'sh', '-c', 'kill -KILL $$']).status).toBe(137);
  });

  it('127 when the command is not found, 126 when it cannot be executed, with a clear message', () => {
    const missing = run(['--timeout', '10', '--', 'no-such-program-xyz']);
    expect(missing.status).toBe(127);
    expect(missing.stderr).toMatch(/no-such-program-xyz: command not found/);
    const dir = mkdtempSync(join(tmpdir(), 'owd-cli-noexec-'));
    writeFileSync(join(dir, 'x.sh'), '#!/bin/sh\n', { mode: 0o644 });
    expect(run(['--timeout', '10', '--', join(dir, 'x.sh')]).status).toBe(126);
  });

  it('--json prints one object: the ProcResult, the outcome and the kill strategy', () => {
    const r = run(['--timeout', '10', '--json', '--', 'sh', '-c', 'echo hi; echo "database is locked" >&2; exit 1']);
    expect(r.status).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({
      returncode: 1,
      signal: null,
      stdout: 'hi\n',
      stderr: 'database is locked\n',
      timed_out: false,
      outcome: 'lock_busy',
    });
    expect(out.duration_s).toBeGreaterThan(0);
    expect(['cgroup', 'subreaper', 'proc-sweep']).toContain(out.strategy);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('--json on timeout: outcome timeout, exit 124', () => {
    const r = run(['--timeout=0.3', '--grace=0.1', '--json', '--', 'sleep', '30']);
    expect(r.status).toBe(124);
    expect(JSON.parse(r.stdout)).toMatchObject({ timed_out: true, outcome: 'timeout', signal: 'SIGTERM', returncode: null });
  });

  it("the command never sees the watchdog's settings and secrets (WATCHDOG_*, their _FILE paths)", () => {
    const r = run(['--timeout', '10', '--', 'sh', '-c', 'env | grep ^WATCHDOG_ || echo none'], {
      WATCHDOG_API_TOKEN: 'tok-123',
      WATCHDOG_WEBHOOK_SECRET_FILE: '/run/secrets/hook',
    });
    expect(r.stdout).toBe('none\n');
  });

  it('--json carries the kill receipt: strategy, each process signalled, the count confirmed dead', () => {
    const r = run([
      '--timeout=0.5',
      '--grace=0.2',
      '--json',
      '--',
      'sh',
      '-c',
      'trap "" TERM; sleep 30 & wait; while :; do sleep 0.05; done',
    ]);
    const { receipt } = JSON.parse(r.stdout);
    expect(receipt.processes.length).toBeGreaterThanOrEqual(2);
    for (const p of receipt.processes)
      expect(p).toEqual({
        pid: expect.any(Number),
        comm: expect.any(String),
        signal: expect.stringMatching(/^SIG(TERM|KILL)$/),
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
      });
    expect(receipt).toMatchObject({ confirmed_dead: receipt.processes.length, survivors: [] });
    expect(['cgroup', 'subreaper', 'proc-sweep']).toContain(receipt.strategy);
  });

  it('WATCHDOG_TREE_KILL_ENABLED=false falls back to the single-child kill', () => {
    const r = run(['--timeout', '10', '--json', '--', 'true'], { WATCHDOG_TREE_KILL_ENABLED: 'false' });
    expect(JSON.parse(r.stdout).strategy).toBe('single');
  });
});

describe('bad invocations exit 125 with a clear message (as timeout(1) does)', () => {
  const cases: [string[], RegExp][] = [
    [['--timeout', 'soon', '--', 'true'], /--timeout: "soon" is not a duration/],
    [['--timeout', '0', '--', 'true'], /--timeout must be greater than 0/],
    [['--grace', '-1', '--', 'true'], /--grace: "-1" is not a duration/],
    [['--timeout'], /--timeout needs a duration/],
    [['--frobnicate', '--', 'true'], /unknown option --frobnicate/],
    [['--timeout', '5'], /no command given/],
    [['--timeout', '5', '--'], /no command given/],
  ];
  for (const [args, message] of cases) {
    it(args.join(' ') || '(nothing)', () => {
      const r = run(args);
      expect(r.status).toBe(125);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/usage: orch-watchdog run/);
    });
  }
});

describe('SIGINT/SIGTERM to the CLI kill the whole tree too', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: the adversarial tree dies with the CLI, which exits 128+N`, async () => {
      const round = newTreeRound();
      rounds.push(round);
      const cli = spawn(process.execPath, [BIN, 'run', '--timeout', '300', '--grace', '0.3', '--', ...round.command], { stdio: 'ignore' });
      const exited = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)));
      await waitFor('the whole tree to be up', () => existsSync(join(round.outDir, 'ready')), { timeoutMs: 90_000 });
      cli.kill(signal);
      expect(await exited).toBe(signal === 'SIGTERM' ? 143 : 130);
      expect(recordedPids(round.outDir).size).toBeGreaterThanOrEqual(24);
      expect(survivors(round.outDir)).toEqual([]);
    }, 150_000);
  }
});

describe('argument parsing', () => {
  it('durations: seconds, fractions and the s/m/h/d suffixes of timeout(1)', () => {
    expect([parseDurationS('90'), parseDurationS('1.5m'), parseDurationS('2h'), parseDurationS('1d'), parseDurationS('.5s')]).toEqual([
      90, 90, 7200, 86_400, 0.5,
    ]);
    expect([parseDurationS(''), parseDurationS('1x'), parseDurationS('-3'), parseDurationS('1e3')]).toEqual([null, null, null, null]);
  });

  it('options after the command belong to the command', () => {
    expect(parseRunArgs(['--timeout', '5', 'pytest', '--timeout', '3', '-x'])).toMatchObject({
      timeoutS: 5,
      command: ['pytest', '--timeout', '3', '-x'],
    });
  });
});
