import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { AlertAction, AlertEvent } from './alert-event.js';
import type { WatchdogMetrics } from './metrics.js';
import type { Signal } from './signal.js';

/** Where alert events go (notify's delivery implements it); the watchdog never imports notify. */
export interface AlertOutlet {
  /** Never blocks and never throws: the tick hands events over and moves on. */
  enqueue(event: AlertEvent): void;
  /** Waits for pending deliveries, at most `timeoutMs` (shutdown); backoff waits are cut short once. */
  flush(timeoutMs: number): Promise<void>;
}

/** The one way an alert leaves the process, for the tick and for edge alerts raised outside it (reaper, merge gate). */
export class AlertSink {
  constructor(
    private readonly outlet: AlertOutlet,
    private readonly deps: { clock: Clock; log: Logger; metrics: Pick<WatchdogMetrics, 'alerts'>; hostname: string },
  ) {}

  dispatch(decisions: readonly { action: AlertAction; signal: Signal }[], at: number): void {
    for (const { action, signal } of decisions) {
      this.deps.metrics.alerts.inc({ family: signal.family, action });
      const event: AlertEvent = { action, signal, at, host: this.deps.hostname };
      try {
        this.outlet.enqueue(event);
      } catch (err) {
        this.deps.log.error({ err, key: signal.key }, 'delivery rejected an alert');
      }
    }
  }

  /** An edge signal raised outside the tick (merge gate, reaper): straight to the notifiers. */
  emitEdge(signal: Signal): void {
    this.dispatch([{ action: 'ALERT', signal }], this.deps.clock());
  }

  flush(timeoutMs: number): Promise<void> {
    return this.outlet.flush(timeoutMs);
  }
}
