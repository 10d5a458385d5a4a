import type { Logger } from 'pino';
import { classify, type ClassifiedOutcome } from './classify.js';
import { toLockHolders, type LockHolderFinder } from './lock-holders.js';
import { compileLockPatterns, scanOutputOffThread, type OutputFacts } from './output-scan.js';
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

/** The gate's judge: a lock pattern the linear-time engine cannot run is logged once and left out. */
export function gateJudge(lockPatterns: readonly string[], deps: Omit<JudgeDeps, 'lockPatterns'>): Judge {
  const patterns = compileLockPatterns(lockPatterns);
  for (const r of patterns.rejected)
    deps.log.warn({ pattern: r.source, reason: r.reason }, 'merge gate: lock pattern ignored (it cannot run in linear time)');
  return judgeRun({ ...deps, lockPatterns: patterns.sources });
}
