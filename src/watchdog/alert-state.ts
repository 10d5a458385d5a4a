import type { DropLog } from './restore-entries.js';
import type { AlertAction } from './alert-event.js';
import { decide } from './decision.js';
import { isEdge, type Family, type Signal } from './signal.js';
import { alertStateSchema } from './state-schemas.js';

export interface AlertState {
  key: string;
  family: Family;
  entity: string | null;
  alerting: boolean;
  lastAlertAt: number | null;
  /** The signal as last seen, so a vanished one can still be described in its RECOVERY. */
  lastSignal: Signal;
}

export interface Decision {
  action: AlertAction;
  signal: Signal;
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

  /** Keeps each entry the schema accepts; `drops` logs the others. */
  restore(data: unknown, drops: DropLog): void {
    if (!Array.isArray(data)) throw new Error('alert states: expected a list');
    for (const s of drops.keep(data, alertStateSchema, (i) => `alert-states[${i}]`)) {
      this.states.set(s.key, s);
      this.unconfirmed.add(s.key);
    }
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
    const alerting = action === 'ALERT' || action === 'REALERT' ? true : action === 'RECOVERY' ? false : (prev?.alerting ?? false);
    const lastAlertAt = action === 'ALERT' || action === 'REALERT' ? nowMs : (prev?.lastAlertAt ?? null);
    if (!alerting && !signal.active && action !== 'RECOVERY' && prev === undefined) return;
    this.states.set(signal.key, {
      key: signal.key,
      family: signal.family,
      entity: signal.entity,
      alerting,
      lastAlertAt,
      lastSignal: signal,
    });
  }
}
