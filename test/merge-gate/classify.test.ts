import { describe, expect, it } from 'vitest';
import { classify, compileLockPatterns } from '../../src/merge-gate/classify.js';
import { testConfig } from '../support/app.js';
import type { ProcResult } from '../../src/merge-gate/types.js';

const patterns = compileLockPatterns(testConfig().mergeLockPatterns);
const result = (fields: Partial<ProcResult>): ProcResult => ({
  returncode: 0,
  signal: null,
  stdout: '',
  stderr: '',
  timed_out: false,
  duration_s: 1,
  ...fields,
});

describe('classify: an infra failure is never read as a code failure', () => {
  const table: [string, Partial<ProcResult>, string][] = [
    ['exit 0 is pass', { returncode: 0 }, 'pass'],
    ['exit 1 (tests failed) is red', { returncode: 1, stdout: '3 failed, 12 passed' }, 'red'],
    ['a timeout is timeout, not red (the rolled-back green branch)', { returncode: null, signal: 'SIGTERM', timed_out: true }, 'timeout'],
    ['a timeout whose leader trapped TERM and exited 1 is still timeout', { returncode: 1, timed_out: true }, 'timeout'],
    ["git's index.lock is lock_busy", { returncode: 128, stderr: "fatal: Unable to create '/r/.git/index.lock': File exists." }, 'lock_busy'],
    ['sqlite "database is locked" with exit 1 is lock_busy, not red', { returncode: 1, stdout: 'sqlite3.OperationalError: database is locked' }, 'lock_busy'],
    ['filelock Timeout is lock_busy', { returncode: 1, stderr: "filelock._error.Timeout: The file lock '/tmp/x.lock' could not be acquired." }, 'lock_busy'],
    ['"Timeout ... acquiring lock" is lock_busy', { returncode: 2, stderr: 'Timeout 30s while acquiring lock on /var/lib/x' }, 'lock_busy'],
    ['a lock message in a passing run is still pass', { returncode: 0, stderr: 'retrying: database is locked' }, 'pass'],
    ['exit 2 (pytest usage error / interrupted) is other', { returncode: 2 }, 'other'],
    ['exit 137 is other', { returncode: 137 }, 'other'],
    ['death by a signal (not our timeout) is other', { returncode: null, signal: 'SIGSEGV' }, 'other'],
    ['a spawn failure is other', { returncode: null, signal: null, stderr: 'orch-watchdog: nope: command not found' }, 'other'],
    ['a spawn failure mentioning a lock is still other', { returncode: null, signal: null, stderr: 'database is locked' }, 'other'],
  ];
  for (const [name, fields, expected] of table) {
    it(name, () => expect(classify(result(fields), patterns)).toBe(expected));
  }

  it('uses the configured patterns, not a built-in list', () => {
    const custom = compileLockPatterns(['resource busy: .*\\.pid']);
    expect(classify(result({ returncode: 1, stderr: 'resource busy: /run/x.pid' }), custom)).toBe('lock_busy');
    expect(classify(result({ returncode: 1, stderr: 'database is locked' }), custom)).toBe('red');
  });
});
