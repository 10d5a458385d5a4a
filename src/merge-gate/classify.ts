import type { Logger } from 'pino';
import { procLockHolderFinder, toLockHolders, type LockHolderFinder } from './lock-holders.js';
import { compileLockPatterns, scanOutputOffThread, type OutputFacts } from './output-scan.js';
import type { KnownAs, LockHolder, Outcome, RunEvidence } from './types.js';

type ClassifiedOutcome = Exclude<Outcome, 'skipped' | 'cancelled'>;

/** `holderFound`: someone outside the run held the lock file or worked in the checkout (see lock-holders.ts). */
export type LockFacts = OutputFacts & { holderFound: boolean };

export const NO_LOCK_FACTS: LockFacts = { lockMentioned: false, lockPaths: [], testsRan: false, holderFound: false };

/**
 * The incident: an infra timeout under CPU starvation was read as a red and a green branch rolled back. So only exit 1
 * is red; a timeout, a held lock, and a run that never tested the branch (spawn failure, 126/127, a SIGKILL the gate
 * did not send: the OOM killer) are infra. A red suite that prints "database is locked" in one failing test is still red.
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

/** Output scan and lock-holder walk off the event loop, then classify; a pattern the linear engine cannot run is logged and left out. */
export function gateJudge(
  lockPatterns: readonly string[],
  log: Logger,
  findLockHolders: LockHolderFinder = procLockHolderFinder(),
  knownAs: (pid: number) => KnownAs | null = () => null,
): Judge {
  const patterns = compileLockPatterns(lockPatterns);
  for (const r of patterns.rejected)
    log.warn({ pattern: r.source, reason: r.reason }, 'merge gate: lock pattern ignored (it cannot run in linear time)');
  return async (evidence, cwd) => {
    const ended = evidence.result;
    let facts: OutputFacts = NO_LOCK_FACTS;
    if (ended.returncode !== null && ended.returncode !== 0 && !ended.timed_out && !evidence.spawnError) {
      facts = await scanOutputOffThread(ended, patterns.sources).catch((err: unknown) => {
        log.warn({ err }, 'merge gate: output scan failed; no lock evidence');
        return NO_LOCK_FACTS;
      });
    }
    let lockHolders: LockHolder[] = [];
    if (facts.lockMentioned) {
      const raw = await findLockHolders({ paths: facts.lockPaths, cwd }).catch((err: unknown) => {
        log.warn({ err }, 'merge gate: lock holder scan failed');
        return [];
      });
      lockHolders = toLockHolders(raw, knownAs);
    }
    const outcome = classify(evidence, { ...facts, holderFound: lockHolders.length > 0 });
    return { outcome, lockHolders: outcome === 'lock_busy' ? lockHolders : [] };
  };
}
