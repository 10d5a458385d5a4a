import type { Logger } from 'pino';
import { DropLog } from '../watchdog/restore-entries.js';
import type { QueuedJob } from './admission.js';
import { DEFAULT_MAX_QUEUED, DEFAULT_MAX_QUEUED_PER_REPO, type MergeGateOptions } from './gate-options.js';
import { parseGateSnapshot, type RestoredGate } from './gate-state.js';
import { recheckCwd } from './run-as.js';
import type { Outcome, RetestRequest, RetestRun, RunAsUser } from './types.js';

/** A restored run that cannot run again: it ends with `outcome` and decision `repost` (its caller posts it again). */
export interface EndedRun {
  run: RetestRun;
  outcome: Outcome;
  why: string;
}

/** The merge-gate section as far as it holds; each dropped entry logged. Throws when it is not one at all. */
export function readSavedGate(data: unknown, log: Logger): RestoredGate {
  const drops = new DropLog('merge-gate', log);
  const saved = parseGateSnapshot(data, drops);
  drops.done();
  return saved;
}

/** What a restart does with the saved queue. */
export interface RestorePlan {
  ended: EndedRun[];
  /** Cut by a shutdown or a crash: the same attempt runs again, first. */
  interrupted: QueuedJob[];
  queued: QueuedJob[];
}

/**
 * Each saved re-test is admitted again as at POST: its account resolved (root refused, never the
 * watchdog's uid) and the queue's bounds kept. A run left queued or running without its request
 * cannot run again: `timeout` when it was running (cut, like a shutdown without a state file),
 * `cancelled` when it never started; both `repost`.
 */
export function planRestore(saved: RestoredGate, resolveRunAs: (request: RetestRequest) => RunAsUser, opts: MergeGateOptions): RestorePlan {
  const plan: RestorePlan = { ended: [], interrupted: [], queued: [] };
  const withJob = new Set(saved.jobs.map((j) => j.runId));
  for (const run of saved.history) {
    if (run.status === 'done' || withJob.has(run.id)) continue;
    const outcome = run.status === 'running' ? 'timeout' : 'cancelled';
    plan.ended.push({ run, outcome, why: `it was ${run.status}, but the state file holds no request to run it again` });
  }
  const runs = new Map(saved.history.map((r) => [r.id, r]));
  const perRepo = new Map<string, number>();
  for (const { runId, request, cwdUid } of saved.jobs) {
    const run = runs.get(runId)!;
    let runAs: RunAsUser;
    try {
      runAs = resolveRunAs(request);
    } catch (err) {
      plan.ended.push({ run, outcome: 'cancelled', why: `it can no longer run as its account: ${(err as Error).message}` });
      continue;
    }
    // the account stays the one fixed at POST: a checkout swapped while the watchdog was down is refused as at start
    const swapped = cwdUid === undefined ? null : recheckCwd(request.cwd, { ...runAs, cwdUid });
    if (swapped) {
      plan.ended.push({ run, outcome: 'cancelled', why: swapped });
      continue;
    }
    if (run.status === 'running') {
      plan.interrupted.push({ run, request, runAs });
      continue;
    }
    const ofRepo = perRepo.get(run.repo) ?? 0;
    if (plan.queued.length >= (opts.maxQueued ?? DEFAULT_MAX_QUEUED) || ofRepo >= (opts.maxQueuedPerRepo ?? DEFAULT_MAX_QUEUED_PER_REPO)) {
      plan.ended.push({ run, outcome: 'cancelled', why: 'the queue (or its share for this repo) is full' });
      continue;
    }
    perRepo.set(run.repo, ofRepo + 1);
    plan.queued.push({ run, request, runAs });
  }
  return plan;
}
