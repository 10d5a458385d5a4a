import type { AlertAction } from './alert-event.js';

export interface PrevState {
  alerting: boolean;
  /** ms since epoch of the last ALERT/REALERT, null when never alerted. */
  lastAlertAt: number | null;
}

/** docs/behaviour.md, "Decision". `prev` undefined means no state yet. */
export function decide(active: boolean, prev: PrevState | undefined, nowMs: number, cooldownS: number): AlertAction | null {
  const alerting = prev?.alerting ?? false;
  if (active && !alerting) return 'ALERT';
  if (active && alerting) {
    const last = prev?.lastAlertAt ?? Number.NEGATIVE_INFINITY;
    return nowMs - last >= cooldownS * 1000 ? 'REALERT' : null;
  }
  if (!active && alerting) return 'RECOVERY';
  return null;
}
