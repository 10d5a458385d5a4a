import type { Logger } from 'pino';
import { classify, type ClassifiedOutcome } from './classify.js';
import { toLockHolders, type LockHolderFinder } from './lock-holders.js';
import { scanOutputOffThread, type OutputFacts } from './output-scan.js';
import type { KnownAs, LockHolder, RunEvidence } from './types.js';

export interface Verdict {
  outcome: ClassifiedOutcome;
  /** Filled when the output mentions a lock: who holds it. */
  lockHolders: LockHolder[];
}

export type Judge = (evidence: RunEvidence, cwd: string) => Promise<Verdict>;

export interface JudgeDeps {
  lockPatterns: string[];
  findLockHolders: LockHolderFinder;
  knownAs: (pid: number) => KnownAs | null;
  log: Logger;
}

const NOTHING: OutputFacts = { lockMentioned: false, lockPaths: [], testsRan: false };

/** Output scan and lock-holder walk off the event loop, then the pure classify. */
export function judgeRun(deps: JudgeDeps): Judge {
  return async (evidence, cwd) => {
    const ended = evidence.result;
    let facts = NOTHING;
    if (ended.returncode !== null && ended.returncode !== 0 && !ended.timed_out && !evidence.spawnError) {
      facts = await scanOutputOffThread(ended, deps.lockPatterns).catch((err: unknown) => {
        deps.log.warn({ err }, 'merge gate: output scan failed; no lock evidence');
        return NOTHING;
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
