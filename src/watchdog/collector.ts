import type { Logger } from 'pino';
import type { Signal } from './signal.js';

export interface CollectContext {
  /** Aborted when the collector's time budget in this tick runs out. */
  abortSignal: AbortSignal;
  /**
   * The budget's end, ms since epoch on the real clock (Date.now()): outbound calls cut their
   * timeout to it, so a hung peer is a failed call the source counts, not an abandoned collector.
   */
  deadline?: number;
  /** ms since epoch, from the injected clock. */
  now: number;
  log: Logger;
}

/**
 * One adapter per source. `collect` returns the full set of the source's current signals
 * (active and inactive); a signal that disappears from the set counts as not active.
 * Throwing or timing out keeps the source's previous signals and is logged and counted,
 * so one broken source never flaps or silences the others.
 */
export interface Collector {
  readonly name: string;
  collect(ctx: CollectContext): Promise<Signal[]>;
}
