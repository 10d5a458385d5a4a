import type { Config } from '../config.js';
import type { Locale } from '../i18n.js';
import type { RunOptions, RunReport } from './runner.js';
import type { RetestRun } from './types.js';

export interface MergeGateOptions {
  maxParallel: number;
  retryMax: number;
  /** false: every failure rolls back (WATCHDOG_MERGE_INFRA_REQUEUE). */
  infraRequeue: boolean;
  skipWhenCurrent: boolean;
  defaultTimeoutS: number;
  graceS: number;
  treeKill: boolean;
  /** Lock pattern sources (WATCHDOG_MERGE_LOCK_PATTERNS), run by the linear-time engine. */
  lockPatterns: string[];
  locale: Locale;
  /** Percent of PSI cpu `some avg10` above which queued re-tests wait. */
  maxCpuPressure: number;
  pressureWaitS: number;
  requeueDelayS: number;
  runAs: string;
  allowRoot: boolean;
  /** Finished runs kept for GET /merge-gate/retests/:id; queued and running ones are always kept. */
  historyMax?: number;
  /** Queued re-tests per repo and overall; POST answers 429 beyond them. */
  maxQueuedPerRepo?: number;
  maxQueued?: number;
  /** How often a held re-test looks at the pressure again, and a running one samples it. */
  pressurePollMs?: number;
}
/** What the gate hands its runner, and what it gets back (the runner's own types). */
export type GateRunOptions = RunOptions;
export type GateRunReport = RunReport;

export const DEFAULT_MAX_QUEUED_PER_REPO = 20;
export const DEFAULT_MAX_QUEUED = 100;
export const DEFAULT_PRESSURE_POLL_MS = 2_000;

/** POST answers 429 {error: "queue_full"}. */
export class QueueFull extends Error {
  readonly code = 'queue_full';
}

export type CancelAnswer = { kind: 'cancelled'; run: RetestRun } | { kind: 'unknown' } | { kind: 'done'; run: RetestRun };

/** The gate's options from the WATCHDOG_MERGE_* / tree-kill keys. */
export function mergeGateOptionsFrom(config: Config): MergeGateOptions {
  return {
    maxParallel: config.mergeMaxParallel,
    retryMax: config.mergeInfraRetryMax,
    infraRequeue: config.mergeInfraRequeue,
    skipWhenCurrent: config.mergeSkipWhenCurrent,
    defaultTimeoutS: config.mergeRetestTimeoutS,
    graceS: config.killGraceS,
    treeKill: config.treeKillEnabled,
    lockPatterns: config.mergeLockPatterns,
    locale: config.locale,
    maxCpuPressure: config.mergeMaxCpuPressure,
    pressureWaitS: config.mergePressureWaitS,
    requeueDelayS: config.mergeRequeueDelayS,
    runAs: config.mergeRunAs,
    allowRoot: config.mergeAllowRoot,
  };
}
