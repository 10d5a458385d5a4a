import type { Signal } from './signal.js';

export type AlertAction = 'ALERT' | 'REALERT' | 'RECOVERY';

export interface AlertEvent {
  action: AlertAction;
  signal: Signal;
  /** ms since epoch when the decision was taken. */
  at: number;
  host: string;
}
