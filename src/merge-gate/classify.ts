import type { Logger } from 'pino';
import { toLockHolders, type LockHolderFinder } from './lock-holders.js';
import { compileLockPatterns, scanOutputOffThread, type OutputFacts } from './output-scan.js';
import type { KnownAs, LockHolder, Outcome, RunEvidence } from './types.js';

type ClassifiedOutcome = Exclude<Outcome, 'skipped' | 'cancelled'>;

/** `holderFound`: someone outside the run held the lock file or worked in the checkout (see lock-holders.ts). */
export type LockFacts = OutputFacts & { holderFound: boolean };

export const NO_LOCK_FACTS: LockFacts = { lockMentioned: false, lockPaths: [], testsRan: false, holderFound: false };

/**
 * The incident: an infra timeout under CPU starvation was read as a code failure and a green branch was
 * rolled back. So only exit 1 (the test runner's "tests failed") is red; a timeout, a lock held by someone
 * else, and a run that never got to test the branch (spawn failure, 126 not executable / 127 not found, a
 * SIGKILL the gate did not send: the OOM killer) are infra; a crash by another signal is `other`. A lock
 * mention alone is not lock_busy: a red suite that prints "database is locked" in one failing test is red.
 */
export function classify(evidence: RunEvidence, lock: LockFacts): ClassifiedOutcome {
  const { result } = evidence;
  if (evidence.spawnError) return 'infra';
  if (result.timed_out) return 'timeout';
  if (result.returncode === 0 && result.signal === null) return 'pass';
  const killedByGate = evidence.killedByGate ?? evidence.aborted === true;
  if (evidence.oomKilled) return 'infra';
  if (result.signal === 'SIGKILL' && !killedByGate) return 'infra';
  if (result.returncode === 126 || result.returncode === 127) return 'infra';
  if (result.returncode !== null && lock.lockMentioned && (lock.holderFound || !lock.testsRan)) return 'lock_busy';
  if (result.returncode === 1) return 'red';
  return 'other';
}

/** `lockHolders`: who holds the lock, filled for lock_busy. */
export type Judge = (evidence: RunEvidence, cwd: string) => Promise<{ outcome: ClassifiedOutcome; lockHolders: LockHolder[] }>;

interface JudgeDeps {
  findLockHolders: LockHolderFinder;
  knownAs: (pid: number) => KnownAs | null;
  log: Logger;
}

/**
 * The gate's judge: output scan and lock-holder walk off the event loop, then the pure classify.
 * A lock pattern the linear-time engine cannot run is logged once and left out.
 */
export function gateJudge(lockPatterns: readonly string[], deps: JudgeDeps): Judge {
  const patterns = compileLockPatterns(lockPatterns);
  for (const r of patterns.rejected)
    deps.log.warn({ pattern: r.source, reason: r.reason }, 'merge gate: lock pattern ignored (it cannot run in linear time)');
  return async (evidence, cwd) => {
    const ended = evidence.result;
    let facts: OutputFacts = NO_LOCK_FACTS;
    if (ended.returncode !== null && ended.returncode !== 0 && !ended.timed_out && !evidence.spawnError) {
      facts = await scanOutputOffThread(ended, patterns.sources).catch((err: unknown) => {
        deps.log.warn({ err }, 'merge gate: output scan failed; no lock evidence');
        return NO_LOCK_FACTS;
      });
    }
    let lockHolders: LockHolder[] = [];
    if (facts.lockMentioned) {
      const raw = await deps.findLockHolders({ paths: facts.lockPaths, cwd }).catch((err: unknown) => {
        deps.log.warn({ err }, 'merge gate: lock holder scan failed');
        return [];
      });
      lockHolders = toLockHolders(raw, deps.knownAs);
    }
    const outcome = classify(evidence, { ...facts, holderFound: lockHolders.length > 0 });
    return { outcome, lockHolders: outcome === 'lock_busy' ? lockHolders : [] };
  };
}
