import { describe, expect, it } from 'vitest';
import { AlertStates } from '../../src/watchdog/alert-state.js';
import { makeSignal, type Signal } from '../../src/watchdog/signal.js';

const sig = (entity: string, active: boolean, extra: Partial<Signal> = {}): Signal =>
  makeSignal({ family: 'proc_blocking', entity, active, severity: 'warning', title: `pid ${entity}`, detail: 'd', ...extra });

describe('AlertStates', () => {
  it('alerts once, stays quiet inside the cooldown, re-alerts after it, recovers once', () => {
    const s = new AlertStates(100);
    expect(s.apply([sig('1', true)], 0).map((d) => d.action)).toEqual(['ALERT']);
    expect(s.apply([sig('1', true)], 50_000)).toEqual([]);
    expect(s.apply([sig('1', true)], 100_000).map((d) => d.action)).toEqual(['REALERT']);
    expect(s.apply([sig('1', false)], 110_000).map((d) => d.action)).toEqual(['RECOVERY']);
    expect(s.apply([sig('1', false)], 120_000)).toEqual([]);
  });

  it('a per-signal cooldown overrides the default', () => {
    const s = new AlertStates(1800);
    s.apply([sig('1', true, { cooldownS: 10 })], 0);
    expect(s.apply([sig('1', true, { cooldownS: 10 })], 10_000).map((d) => d.action)).toEqual(['REALERT']);
  });

  it('a vanished process yields exactly one RECOVERY and its state is forgotten', () => {
    const s = new AlertStates(60);
    s.apply([sig('4242', true)], 0);
    const gone = s.apply([], 1000);
    expect(gone).toHaveLength(1);
    expect(gone[0]).toMatchObject({ action: 'RECOVERY', signal: { key: 'proc_blocking:4242', active: false, title: 'pid 4242' } });
    expect(s.apply([], 2000)).toEqual([]);
    expect(s.list()).toEqual([]);
  });

  it('edge signals fire every time they are active and keep no state', () => {
    const s = new AlertStates(60);
    const edge = makeSignal({ family: 'job_failed', entity: null, active: true, severity: 'warning', title: 't', detail: 'd' });
    expect(s.apply([edge], 0).map((d) => d.action)).toEqual(['ALERT']);
    expect(s.apply([edge], 1).map((d) => d.action)).toEqual(['ALERT']);
    expect(s.list()).toEqual([]);
  });

  it('never-alerting inactive signals create no state', () => {
    const s = new AlertStates(60);
    s.apply([sig('1', false), sig('2', false)], 0);
    expect(s.list()).toEqual([]);
  });

  it('lists alerting and recovered-but-present states with their last alert time', () => {
    const s = new AlertStates(60);
    s.apply([sig('1', true), sig('2', true)], 5000);
    s.apply([sig('1', true), sig('2', false)], 6000);
    expect(s.list().map((x) => [x.key, x.alerting, x.lastAlertAt])).toEqual([
      ['proc_blocking:1', true, 5000],
      ['proc_blocking:2', false, 5000],
    ]);
  });
});
