import { describe, expect, it } from 'vitest';
import { decide } from '../../src/watchdog/alert-state.js';

const T = 1_000_000;

describe('decide: ALERT / REALERT / RECOVERY per CONTRACT §5', () => {
  it.each([
    { name: 'first sighting of an active signal alerts', active: true, prev: undefined, now: T, cooldownS: 60, want: 'ALERT' },
    {
      name: 'active, not alerting → ALERT',
      active: true,
      prev: { alerting: false, lastAlertAt: T - 5000 },
      now: T,
      cooldownS: 60,
      want: 'ALERT',
    },
    {
      name: 'active, alerting, inside cooldown → nothing',
      active: true,
      prev: { alerting: true, lastAlertAt: T - 59_999 },
      now: T,
      cooldownS: 60,
      want: null,
    },
    {
      name: 'active, alerting, cooldown exactly elapsed → REALERT',
      active: true,
      prev: { alerting: true, lastAlertAt: T - 60_000 },
      now: T,
      cooldownS: 60,
      want: 'REALERT',
    },
    {
      name: 'active, alerting, never stamped → REALERT',
      active: true,
      prev: { alerting: true, lastAlertAt: null },
      now: T,
      cooldownS: 60,
      want: 'REALERT',
    },
    {
      name: 'inactive, alerting → RECOVERY',
      active: false,
      prev: { alerting: true, lastAlertAt: T - 1 },
      now: T,
      cooldownS: 60,
      want: 'RECOVERY',
    },
    {
      name: 'inactive, not alerting → nothing',
      active: false,
      prev: { alerting: false, lastAlertAt: null },
      now: T,
      cooldownS: 60,
      want: null,
    },
    { name: 'inactive, no state → nothing', active: false, prev: undefined, now: T, cooldownS: 60, want: null },
    {
      name: 'a zero cooldown re-alerts every tick',
      active: true,
      prev: { alerting: true, lastAlertAt: T },
      now: T,
      cooldownS: 0,
      want: 'REALERT',
    },
  ])('$name', ({ active, prev, now, cooldownS, want }) => {
    expect(decide(active, prev, now, cooldownS)).toBe(want);
  });
});
