import type { Signal } from './signal.js';

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
