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

/** `historyMax`: finished runs kept; `maxQueued(PerRepo)`: then POST answers 429; `pressurePollMs`: how often held and running re-tests look. */
export type MergeGateOptions = Omit<ReturnType<typeof mergeGateOptionsFrom>, 'procRoot'> &
  Partial<Record<'historyMax' | 'maxQueuedPerRepo' | 'maxQueued' | 'pressurePollMs', number> & { procRoot: string }>;

export interface MergeGateDeps {
  clock: Clock;
  log: Logger;
  /** Called exactly once per exhaustion. */
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
  /** Each running attempt's root process is registered here, so the /proc scan names it as its owner. */
  retests?: RetestRegistry;
}

export const DEFAULT_PRESSURE_POLL_MS = 2_000;

/** POST answers 429 {error: "queue_full"}. */
export class QueueFull extends Error {
  readonly code = 'queue_full';
}

/** Why the queue, or the repo's share of it, has no room for one more (QueueFull's message), or null. */
export function queueFull(queued: readonly { request: { repo: string } }[], repo: string, opts: MergeGateOptions): string | null {
  const max = opts.maxQueued ?? 100;
  if (queued.length >= max) return `${queued.length} re-tests are queued (at most ${max}); retry later or cancel one`;
  const maxPerRepo = opts.maxQueuedPerRepo ?? 20;
  const ofRepo = queued.filter((j) => j.request.repo === repo).length;
  return ofRepo >= maxPerRepo
    ? `${ofRepo} re-tests of ${repo} are queued (at most ${maxPerRepo} per repo); retry later or cancel one`
    : null;
}

export type CancelAnswer = { kind: 'cancelled'; run: RetestRun } | { kind: 'unknown' } | { kind: 'done'; run: RetestRun };
