import type { Logger } from 'pino';

export const FAMILIES = [
  'orch_down',
  'agent_hung',
  'job_failed',
  'host_mem',
  'disk_crit',
  'container',
  'dep_down',
  'proc_blocking',
  'proc_reaped',
  'merge_gate_exhausted',
] as const;

export type Family = (typeof FAMILIES)[number];
export type Severity = 'critical' | 'warning';

/** Families that fire once per event and keep no AlertState (docs/behaviour.md, "Families"). */
const EDGE_FAMILIES: ReadonlySet<Family> = new Set(['job_failed', 'proc_reaped', 'merge_gate_exhausted']);

/** What /signals serves; `key` is `family` or `family:entity`. */
export interface Signal {
  key: string;
  family: Family;
  entity: string | null;
  active: boolean;
  severity: Severity;
  title: string;
  detail: string;
  /** Per-signal re-alert cooldown; falls back to WATCHDOG_COOLDOWN_S. Not served. */
  cooldownS?: number;
}

export type AlertAction = 'ALERT' | 'REALERT' | 'RECOVERY';

export interface AlertEvent {
  action: AlertAction;
  signal: Signal;
  /** ms since epoch when the decision was taken. */
  at: number;
  host: string;
  /** Set by delivery on the first message after its queue had to drop some: how many never went out. */
  droppedBefore?: number;
}

export function signalKey(family: Family, entity: string | null): string {
  return entity === null ? family : `${family}:${entity}`;
}

export function makeSignal(fields: Omit<Signal, 'key'>): Signal {
  return { key: signalKey(fields.family, fields.entity), ...fields };
}

export function isEdge(signal: Pick<Signal, 'family'>): boolean {
  return EDGE_FAMILIES.has(signal.family);
}

export interface CollectContext {
  /** Aborted when the collector's time budget in this tick runs out. */
  abortSignal: AbortSignal;
  /** Budget's end (Date.now() ms): outbound calls cut their timeout to it, so a hung peer is a counted failure, not an abandoned collector. */
  deadline?: number;
  /** ms since epoch, from the injected clock. */
  now: number;
  log: Logger;
}

/** One adapter per source: `collect` returns all its current signals; a missing one is inactive. Throwing keeps the previous signals. */
export interface Collector {
  readonly name: string;
  collect(ctx: CollectContext): Promise<Signal[]>;
}
