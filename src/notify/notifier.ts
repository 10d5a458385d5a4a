import type { AlertEvent } from '../watchdog/alert-event.js';

/**
 * `reason` is a short code used as a metric label (`rate_limited`, `server_error`, `timeout`,
 * `connection`, `client_error`, …); `detail` is the human text for the log, already scrubbed
 * of credentials.
 */
export type NotifyResult =
  | { ok: true }
  | { ok: false; retry: true; reason: string; afterS?: number; detail?: string }
  | { ok: false; retry: false; reason: string; detail?: string };

/** One small implementation per integration; retry, pacing and queueing live in delivery. */
export interface Notifier {
  readonly name: string;
  /** Delivery leaves at least this long between two sends (Telegram: one message per second per chat). */
  readonly minIntervalMs?: number;
  notify(event: AlertEvent, abortSignal: AbortSignal): Promise<NotifyResult>;
  /** Stops the integration's own timers (the Alertmanager re-send); called once on shutdown. */
  close?(): Promise<void>;
}
