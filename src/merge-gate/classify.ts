import type { Outcome, ProcResult } from './types.js';

/** Compiles WATCHDOG_MERGE_LOCK_PATTERNS (already validated by the config schema). */
export function compileLockPatterns(patterns: readonly string[]): RegExp[] {
  return patterns.map((p) => new RegExp(p, 'm'));
}

/**
 * The incident: an infra timeout under CPU starvation was read as a code failure and a green
 * branch was rolled back. So only exit 1 (the test runner's "tests failed") is red; a timeout
 * or a lock held by someone else is infra; anything else (a crash, a signal, a spawn failure)
 * is `other`. Lock patterns are checked before red because a suite that hit a busy lock
 * usually exits 1 too.
 */
export function classify(result: ProcResult, lockPatterns: readonly RegExp[]): Exclude<Outcome, 'skipped'> {
  if (result.timed_out) return 'timeout';
  if (result.returncode === 0 && result.signal === null) return 'pass';
  if (result.returncode !== null && lockPatterns.some((p) => p.test(result.stderr) || p.test(result.stdout))) return 'lock_busy';
  if (result.returncode === 1) return 'red';
  return 'other';
}
