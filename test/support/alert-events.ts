import { makeSignal, type AlertAction, type AlertEvent, type Family, type Signal } from '../../src/watchdog/signal.js';

/** An alert event for tests; the signal fields default to a blocking pytest process. */
export function alertEvent(
  action: AlertAction,
  overrides: Partial<Omit<Signal, 'key'>> = {},
  at = Date.UTC(2026, 0, 2, 3, 4, 5),
): AlertEvent {
  const family: Family = overrides.family ?? 'proc_blocking';
  const signal = makeSignal({
    family,
    entity: 'entity' in overrides ? (overrides.entity ?? null) : '4242',
    active: action !== 'RECOVERY',
    severity: overrides.severity ?? 'critical',
    title: overrides.title ?? 'pytest running for 2 h 14 min',
    detail: overrides.detail ?? 'pid 4242: python -m pytest tests/',
  });
  return { action, signal, at, host: 'build-01' };
}
