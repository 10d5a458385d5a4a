import type { OutputFacts } from './output-scan.js';
import type { Outcome, RunEvidence } from './types.js';

export type ClassifiedOutcome = Exclude<Outcome, 'skipped' | 'cancelled'>;

export interface LockFacts extends OutputFacts {
  /** Someone outside the run held the lock file or worked in the checkout (see lock-holders.ts). */
  holderFound: boolean;
}

export const NO_LOCK_FACTS: LockFacts = { lockMentioned: false, lockPaths: [], testsRan: false, holderFound: false };

/** Exit codes of a shell that could not run the command: 126 not executable, 127 not found. */
const CANNOT_RUN_CODES = new Set([126, 127]);

/**
 * The incident: an infra timeout under CPU starvation was read as a code failure and a green
 * branch was rolled back. So only exit 1 (the test runner's "tests failed") is red; a timeout,
 * a lock held by someone else, and a run that never got to test the branch (spawn failure,
 * 126/127, a SIGKILL the gate did not send: the OOM killer) are infra; a crash by another
 * signal is `other`. A lock mention alone is not enough for lock_busy: a red suite that prints
 * "database is locked" in one failing test is still red.
 */
export function classify(evidence: RunEvidence, lock: LockFacts): ClassifiedOutcome {
  const { result } = evidence;
  if (evidence.spawnError) return 'infra';
  if (result.timed_out) return 'timeout';
  if (result.returncode === 0 && result.signal === null) return 'pass';
  const killedByGate = evidence.killedByGate ?? evidence.aborted === true;
  if (evidence.oomKilled) return 'infra';
  if (result.signal === 'SIGKILL' && !killedByGate) return 'infra';
  if (result.returncode !== null && CANNOT_RUN_CODES.has(result.returncode)) return 'infra';
  if (result.returncode !== null && lock.lockMentioned && (lock.holderFound || !lock.testsRan)) return 'lock_busy';
  if (result.returncode === 1) return 'red';
  return 'other';
}
