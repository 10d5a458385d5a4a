import type { Logger } from 'pino';
import type { z } from 'zod';
import { alertStateSchema, DropLog } from './restore-entries.js';
import { isEdge, type AlertAction, type Signal } from './signal.js';

export type AlertState = z.output<typeof alertStateSchema>;

export interface Decision {
  action: AlertAction;
  signal: Signal;
}

/** docs/behaviour.md, "Decision". `prev` undefined means no state yet; `lastAlertAt` null when never alerted. */
export function decide(
  active: boolean,
  prev: Pick<AlertState, 'alerting' | 'lastAlertAt'> | undefined,
  nowMs: number,
  cooldownS: number,
): AlertAction | null {
  const alerting = prev?.alerting ?? false;
  if (active && !alerting) return 'ALERT';
  if (active && alerting) {
    const last = prev?.lastAlertAt ?? Number.NEGATIVE_INFINITY;
    return nowMs - last >= cooldownS * 1000 ? 'REALERT' : null;
  }
  if (!active && alerting) return 'RECOVERY';
  return null;
}

/** AlertState per non-edge signal. A vanished alerting key gets one RECOVERY and is then forgotten, so no state leaks. */
export class AlertStates {
  private readonly states = new Map<string, AlertState>();
  /** Restored from the state file and not seen since: a source that failed its first tick must not recover them. */
  private readonly unconfirmed = new Set<string>();

  constructor(private readonly defaultCooldownS: number) {}

  /** What the state file keeps: only alerting states matter after a restart. */
  snapshot(): AlertState[] {
    return this.list().filter((s) => s.alerting);
  }

  /** Keeps each entry the schema accepts; the others are logged and dropped. */
  restore(data: unknown, log: Logger): void {
    if (!Array.isArray(data)) throw new Error('alert states: expected a list');
    const drops = new DropLog('alert-states', log);
    for (const s of drops.keep(data, alertStateSchema, (i) => `alert-states[${i}]`)) {
      this.states.set(s.key, s);
      this.unconfirmed.add(s.key);
    }
    drops.done();
  }

  /** `isComplete` false: some source failed this tick, so a restored key it did not report is kept, not recovered. */
  apply(signals: readonly Signal[], nowMs: number, isComplete = true): Decision[] {
    const decisions: Decision[] = [];
    const seen = new Set<string>();
    for (const signal of signals) {
      if (isEdge(signal)) {
        if (signal.active) decisions.push({ action: 'ALERT', signal });
        continue;
      }
      seen.add(signal.key);
      this.unconfirmed.delete(signal.key);
      this.step(signal, nowMs, decisions);
    }
    for (const state of [...this.states.values()]) {
      if (seen.has(state.key)) continue;
      if (!isComplete && this.unconfirmed.has(state.key)) continue;
      this.unconfirmed.delete(state.key);
      if (state.alerting) this.step({ ...state.lastSignal, active: false }, nowMs, decisions);
      this.states.delete(state.key);
    }
    return decisions;
  }

  list(): AlertState[] {
    return [...this.states.values()].sort((a, b) => a.key.localeCompare(b.key));
  }

  private step(signal: Signal, nowMs: number, out: Decision[]): void {
    const prev = this.states.get(signal.key);
    const action = decide(signal.active, prev, nowMs, signal.cooldownS ?? this.defaultCooldownS);
    if (action !== null) out.push({ action, signal });
    const fired = action === 'ALERT' || action === 'REALERT';
    const alerting = fired || (action !== 'RECOVERY' && (prev?.alerting ?? false));
    const lastAlertAt = fired ? nowMs : (prev?.lastAlertAt ?? null);
    if (!alerting && !signal.active && action !== 'RECOVERY' && prev === undefined) return;
    const { key, family, entity } = signal;
    this.states.set(key, { key, family, entity, alerting, lastAlertAt, lastSignal: signal });
  }
}
