import type { Logger } from 'pino';
import type { Signal } from './signal.js';

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
