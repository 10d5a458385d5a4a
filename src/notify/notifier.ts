import type { Signal } from '../watchdog/signal.js';

export type AlertAction = 'ALERT' | 'REALERT' | 'RECOVERY';

export interface AlertEvent {
  action: AlertAction;
  signal: Signal;
  /** ms since epoch when the decision was taken. */
  at: number;
  host: string;
}

export type NotifyResult =
  | { ok: true }
  | { ok: false; retry: true; reason: string; afterS?: number }
  | { ok: false; retry: false; reason: string };

/** One small implementation per integration; retry, pacing and queueing live in delivery. */
export interface Notifier {
  readonly name: string;
  notify(event: AlertEvent, abortSignal: AbortSignal): Promise<NotifyResult>;
}
