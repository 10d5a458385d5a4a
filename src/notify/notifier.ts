import type { AlertEvent } from '../watchdog/alert-event.js';
import type { Batching } from './delivery-order.js';

/** `reason`: a short metric-label code (`rate_limited`, `timeout`, …); `detail`: text for the log (the logger redacts it). */
export type NotifyResult =
  | { ok: true }
  | { ok: false; retry: true; reason: string; afterS?: number; detail?: string }
  | { ok: false; retry: false; reason: string; detail?: string };

/** One small implementation per integration; retry, pacing, priority and queueing live in delivery. */
export interface Notifier {
  readonly name: string;
  /** Delivery leaves at least this long between two sends (Telegram: one message per second per chat). */
  readonly minIntervalMs?: number;
  /** Never capped: every event is kept however long the queue grows (the log). */
  readonly isUnbounded?: boolean;
  notify(event: AlertEvent, abortSignal: AbortSignal): Promise<NotifyResult>;
  /** Several queued events in one send (a grouped chat message, one Alertmanager POST); see `batching`. */
  notifyBatch?(events: readonly AlertEvent[], abortSignal: AbortSignal): Promise<NotifyResult>;
  readonly batching?: Batching;
  /** Periodic work delivery runs in the queue's own order (Alertmanager's re-send of what fires). */
  readonly resendEveryMs?: number;
  resend?(abortSignal: AbortSignal): Promise<NotifyResult>;
  /** Stops the integration's own resources; called once on shutdown. */
  close?(): Promise<void>;
}
