import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { RetestRegistry } from '../watchdog/retest-registry.js';
import type { Signal } from '../watchdog/signal.js';
import type { LockHolderFinder } from './lock-holders.js';
import type { PressureProbe } from './pressure.js';
import type { RunAs } from '../runner/account.js';
import type { KillEnvironment } from '../runner/launch.js';
import type { RunOptions, RunReport } from '../runner/run.js';
import type { KnownAs, RetestRun } from './types.js';

/** The gate's options from the WATCHDOG_MERGE_* / tree-kill keys. */
export function mergeGateOptionsFrom(config: Config) {
  return {
    maxParallel: config.mergeMaxParallel,
    retryMax: config.mergeInfraRetryMax,
    infraRequeue: config.mergeInfraRequeue,
    skipWhenCurrent: config.mergeSkipWhenCurrent,
    defaultTimeoutS: config.mergeRetestTimeoutS,
    graceS: config.killGraceS,
    treeKill: config.treeKillEnabled,
    /** run by the linear-time engine */
    lockPatterns: config.mergeLockPatterns,
    locale: config.locale,
    /** Percent of PSI cpu `some avg10` above which queued re-tests wait. */
    maxCpuPressure: config.mergeMaxCpuPressure,
    pressureWaitS: config.mergePressureWaitS,
    requeueDelayS: config.mergeRequeueDelayS,
    runAs: config.mergeRunAs,
    allowRoot: config.mergeAllowRoot,
    procRoot: config.procRoot,
  };
}

/**
 * `historyMax`: finished runs kept for GET /merge-gate/retests/:id; `maxQueued(PerRepo)`: beyond them POST
 * answers 429; `pressurePollMs`: how often a held re-test looks at the pressure again, and a running one samples it.
 */
export type MergeGateOptions = Omit<ReturnType<typeof mergeGateOptionsFrom>, 'procRoot'> &
  Partial<Record<'historyMax' | 'maxQueuedPerRepo' | 'maxQueued' | 'pressurePollMs', number> & { procRoot: string }>;

export interface MergeGateDeps {
  clock: Clock;
  log: Logger;
  /** The alert sink's edge path: called exactly once per exhaustion. */
  onExhausted?: (signal: Signal) => void;
  registry?: Registry;
  run?: (opts: RunOptions) => Promise<RunReport>;
  killEnv?: KillEnvironment;
  /** Reads HEAD in cwd as the re-test's own account. */
  isHeadValidated?: (cwd: string, validatedSha: string | undefined, runAs: RunAs) => Promise<boolean>;
  pressure?: PressureProbe;
  findLockHolders?: LockHolderFinder;
  knownAs?: (pid: number) => KnownAs | null;
  /** The watchdog's own uid; re-tests never run as it. */
  selfUid?: number;
  /** Where each running attempt's root process is registered, so the /proc scan names it as its owner. */
  retests?: RetestRegistry;
}

export const DEFAULT_MAX_QUEUED_PER_REPO = 20;
export const DEFAULT_MAX_QUEUED = 100;
export const DEFAULT_PRESSURE_POLL_MS = 2_000;

/** POST answers 429 {error: "queue_full"}. */
export class QueueFull extends Error {
  readonly code = 'queue_full';
}

/** Throws QueueFull when the queue, or the repo's share of it, is full. */
export function assertQueueRoom(queued: readonly { request: { repo: string } }[], repo: string, opts: MergeGateOptions): void {
  const max = opts.maxQueued ?? DEFAULT_MAX_QUEUED;
  if (queued.length >= max) throw new QueueFull(`${queued.length} re-tests are queued (at most ${max}); retry later or cancel one`);
  const maxPerRepo = opts.maxQueuedPerRepo ?? DEFAULT_MAX_QUEUED_PER_REPO;
  const ofRepo = queued.filter((j) => j.request.repo === repo).length;
  if (ofRepo >= maxPerRepo)
    throw new QueueFull(`${ofRepo} re-tests of ${repo} are queued (at most ${maxPerRepo} per repo); retry later or cancel one`);
}

export type CancelAnswer = { kind: 'cancelled'; run: RetestRun } | { kind: 'unknown' } | { kind: 'done'; run: RetestRun };
