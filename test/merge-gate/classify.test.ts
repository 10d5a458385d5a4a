import { describe, expect, it } from 'vitest';
import { classify, compileLockPatterns, NO_LOCK_FACTS, scanOutput, type LockFacts } from '../../src/merge-gate/classify.js';
import { testConfig } from '../support/app.js';
import type { RunEvidence } from '../../src/merge-gate/types.js';
import type { ProcResult } from '../../src/runner/run.js';

const patterns = compileLockPatterns(testConfig().mergeLockPatterns).sources;
const result = (fields: Partial<ProcResult>): ProcResult => ({
  returncode: 0,
  signal: null,
  stdout: '',
  stderr: '',
  timed_out: false,
  duration_s: 1,
  ...fields,
});
/** The verdict with the output scanned for real and `holderFound` as given. */
const verdict = (fields: Partial<ProcResult>, extra: Partial<RunEvidence> = {}, holderFound = false) => {
  const r = result(fields);
  return classify({ result: r, ...extra }, { ...scanOutput(r, patterns), holderFound });
};

describe('classify: an infra failure is never read as a code failure', () => {
  const table: [string, Partial<ProcResult>, Partial<RunEvidence>, string][] = [
    ['exit 0 is pass', { returncode: 0 }, {}, 'pass'],
    ['exit 1 (tests failed) is red', { returncode: 1, stdout: '3 failed, 12 passed' }, {}, 'red'],
    [
      'a timeout is timeout, not red (the rolled-back green branch)',
      { returncode: null, signal: 'SIGTERM', timed_out: true },
      { killedByGate: true },
      'timeout',
    ],
    ['a timeout whose leader trapped TERM and exited 1 is still timeout', { returncode: 1, timed_out: true }, {}, 'timeout'],
    [
      "git's index.lock (no test ran) is lock_busy",
      { returncode: 128, stderr: "fatal: Unable to create '/r/.git/index.lock': File exists." },
      {},
      'lock_busy',
    ],
    [
      'sqlite "database is locked" before any test ran is lock_busy, not red',
      { returncode: 1, stdout: 'sqlite3.OperationalError: database is locked' },
      {},
      'lock_busy',
    ],
    [
      'filelock Timeout is lock_busy',
      { returncode: 1, stderr: "filelock._error.Timeout: The file lock '/tmp/x.lock' could not be acquired." },
      {},
      'lock_busy',
    ],
    [
      '"Timeout ... acquiring lock" is lock_busy',
      { returncode: 2, stderr: 'Timeout 30s while acquiring lock on /var/lib/x' },
      {},
      'lock_busy',
    ],
    [
      'a red suite that merely prints "database is locked" in one test is red (issue 14: it was re-queued)',
      { returncode: 1, stdout: 'E   AssertionError: expected "database is locked" to be retried\n=== 1 failed, 40 passed in 3.2s ===' },
      {},
      'red',
    ],
    ['a lock message in a passing run is still pass', { returncode: 0, stderr: 'retrying: database is locked' }, {}, 'pass'],
    ['exit 2 (pytest usage error / interrupted) is other', { returncode: 2 }, {}, 'other'],
    ['exit 137 (a shell reporting its child) is other', { returncode: 137 }, {}, 'other'],
    ['exit 126 (not executable) is infra', { returncode: 126 }, {}, 'infra'],
    ['exit 127 (command not found) is infra', { returncode: 127, stderr: 'sh: 1: pytset: not found' }, {}, 'infra'],
    ['a SIGSEGV crash is other (a verdict on the code)', { returncode: null, signal: 'SIGSEGV' }, {}, 'other'],
    [
      'a SIGKILL the gate did not send (the OOM killer) is infra',
      { returncode: null, signal: 'SIGKILL' },
      { killedByGate: false },
      'infra',
    ],
    ['an OOM kill reported by the cgroup is infra whatever the exit', { returncode: 1 }, { oomKilled: true }, 'infra'],
    [
      'a spawn failure is infra',
      { returncode: null, signal: null, stderr: 'orch-watchdog: nope: command not found' },
      { spawnError: 'ENOENT' },
      'infra',
    ],
    [
      'a spawn failure mentioning a lock is still infra',
      { returncode: null, signal: null, stderr: 'database is locked' },
      { spawnError: 'EACCES' },
      'infra',
    ],
  ];
  for (const [name, fields, extra, expected] of table) {
    it(name, () => expect(verdict(fields, extra)).toBe(expected));
  }

  it('a red suite that prints a lock message is lock_busy when a holder of the lock was found', () => {
    const fields = { returncode: 1, stdout: 'database is locked\n1 failed, 3 passed' };
    expect(verdict(fields, {}, false)).toBe('red');
    expect(verdict(fields, {}, true)).toBe('lock_busy');
  });

  it('uses the configured patterns, not a built-in list', () => {
    const custom = compileLockPatterns(['resource busy: .*\\.pid']).sources;
    const facts = (stderr: string): LockFacts => ({ ...scanOutput(result({ stderr }), custom), holderFound: false });
    expect(classify({ result: result({ returncode: 1 }) }, facts('resource busy: /run/x.pid'))).toBe('lock_busy');
    expect(classify({ result: result({ returncode: 1 }) }, facts('database is locked'))).toBe('red');
    expect(classify({ result: result({ returncode: 1 }) }, NO_LOCK_FACTS)).toBe('red');
  });
});

describe('the output scan runs in bounded time whatever a test printed (issue 14: 27 s frozen)', () => {
  it('patterns that cannot run in linear time are rejected, the rest kept', () => {
    const compiled = compileLockPatterns(['database is locked', '(a+)\\1', '(?=x)lock']);
    expect(compiled.sources).toEqual(['database is locked']);
    expect(compiled.rejected.map((r) => r.source)).toEqual(['(a+)\\1', '(?=x)lock']);
  });

  it('"Timeoutacquir"×2000 and its 1 MiB version: no lock found, and 1 MiB costs what its 64 KiB tail costs (bounded, not linear in the output)', () => {
    const timed = (chars: number) => {
      const hostile = 'Timeoutacquir'.repeat(Math.ceil(chars / 13));
      const started = performance.now();
      const facts = scanOutput({ stdout: hostile, stderr: hostile }, patterns);
      return { ms: performance.now() - started, facts };
    };
    expect(timed(26_000).facts.lockMentioned).toBe(false);
    const tail = timed(64 * 1024);
    const huge = timed(1024 * 1024);
    expect(huge.facts.lockMentioned).toBe(false);
    // generous for a loaded 2-core host; unbounded it was 20 s of CPU (run --json) and a 27 s freeze
    expect(huge.ms).toBeLessThan(Math.max(3 * tail.ms, 250) + 2000);
  });

  it('names the lock files on the lines that mention a lock', () => {
    const facts = scanOutput(
      { stdout: '', stderr: "sqlite3.OperationalError: database is locked: '/srv/app/state.db'\nok /srv/other/readme.txt" },
      patterns,
    );
    expect(facts).toMatchObject({ lockMentioned: true, lockPaths: ['/srv/app/state.db'], testsRan: false });
  });
});
