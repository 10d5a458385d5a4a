import { describe, expect, it } from 'vitest';
import type { RunAlert } from '../../../src/sources/proc/runs.js';
import type { MatchedProcess } from '../../../src/sources/proc/scanner.js';
import { blockingSignals, isOrphaned, recoveredTexts, toCandidate, type GoneReason } from '../../../src/sources/proc/signals.js';
import type { Signal } from '../../../src/watchdog/signal.js';

const raw = (over: Partial<MatchedProcess> = {}): MatchedProcess => ({
  pid: 4242,
  comm: 'python3',
  state: 'S',
  ppid: 1,
  pgrp: 4240,
  session: 4240,
  utimeTicks: 30_000,
  stimeTicks: 6_000,
  startTicks: 100 * 600, // started 600 s after boot
  argv: ['python3', '-m', 'pytest', 'tests/'],
  parentComm: 'process_api',
  match: 'program',
  locks: [],
  ports: [],
  ...over,
});

const facts = { match: 'program' as const, run: { pid: 4242, startTicks: 100 * 600 }, owner: null };

const btimeS = 1_700_000_000;
const clock = (ageS: number) => ({ btimeS, clkTck: 100, nowMs: (btimeS + 600 + ageS) * 1000, thresholdS: 3600 });

describe('toCandidate', () => {
  it('derives age from btime + starttime / CLK_TCK and CPU from utime + stime', () => {
    const c = toCandidate(raw(), clock(8040), facts);
    expect(c.ageS).toBe(8040);
    expect(c.cpuS).toBe(360);
    expect(c.isBlocking).toBe(true);
  });

  it('is not blocking below WATCHDOG_PROC_AGE_MIN', () => {
    expect(toCandidate(raw(), clock(3599), facts).isBlocking).toBe(false);
    expect(toCandidate(raw(), clock(3600), facts).isBlocking).toBe(true);
  });

  it('takes the blocking verdict from the run (a leftover grace, a re-test inside its timeout) when given', () => {
    expect(toCandidate(raw(), clock(8040), { ...facts, isBlocking: false }).isBlocking).toBe(false);
  });

  it('never reports a negative age when the clock is behind btime', () => {
    expect(toCandidate(raw(), clock(-50), facts).ageS).toBe(0);
  });

  // Incident guard: secrets passed on a pytest command line must not reach the API or a chat.
  it('redacts secrets and cuts the cmdline to 512 characters', () => {
    const argv = ['pytest', '--password', 'hunter2', 'DB_TOKEN=abc', ...Array.from({ length: 200 }, (_, i) => `tests/t${i}.py`)];
    const c = toCandidate(raw({ argv }), clock(10), facts);
    expect(c.cmdline.startsWith('pytest --password *** DB_TOKEN=*** tests/t0.py')).toBe(true);
    expect(c.cmdline).not.toContain('hunter2');
    expect(c.cmdline.length).toBeLessThanOrEqual(512);
  });
});

describe('isOrphaned', () => {
  it.each([
    [1, 'process_api', true],
    [77, 'tini', true],
    [77, 'dumb-init', true],
    [77, 'docker-init', true],
    [77, 'systemd', true],
    [77, 'containerd-shim', true],
    [77, 'bash', false],
    [77, 'make', false],
    [77, null, false],
  ])('ppid %i with parent %s → %s', (ppid, parentComm, expected) => {
    expect(isOrphaned(ppid, parentComm)).toBe(expected);
  });
});

/** A run's alert as blockingSignals reads it: its top's identity, whether it blocks, its age. */
const alert = (pid: number, startTicks: number, isBlocking = true, ageS = 7200): RunAlert => {
  const lead = { ...toCandidate(raw({ pid, startTicks }), clock(ageS), facts), ageS };
  return {
    top: { pid, startTicks },
    lead,
    processes: [{ pid, startTicks }],
    leftovers: [],
    goneForS: null,
    isOwnerGone: false,
    isBlocking,
    locks: [],
    ports: [],
  };
};

/** Tick after tick: the signals of each, as the pids alerting and the pids gone with why. */
function ticks() {
  let before: RunAlert[] = [];
  const reasons: GoneReason[] = ['exited', 'reused', 'not_matching'];
  return (alerts: RunAlert[], starts: Map<number, number> = new Map(alerts.map((a) => [a.top.pid, a.top.startTicks]))) => {
    const signals: Signal[] = blockingSignals(before, alerts, (pid) => starts.get(pid), {
      reapAgeS: 4 * 3600,
      cooldownS: 1800,
      locale: 'en',
    });
    before = alerts;
    return {
      active: signals.filter((s) => s.active).map((s) => Number(s.entity)),
      gone: signals
        .filter((s) => !s.active)
        .map((s) => ({
          pid: Number(s.entity),
          reason: reasons.find((r) => recoveredTexts(Number(s.entity), r, 'en').detail === s.detail),
        })),
    };
  };
}

describe('proc_blocking keeps the (pid, starttime) identity behind each alert', () => {
  it('keeps a blocking process active tick after tick', () => {
    const tick = ticks();
    const c = alert(42, 100);
    expect(tick([c])).toEqual({ active: [42], gone: [] });
    expect(tick([c])).toEqual({ active: [42], gone: [] });
  });

  it('does not emit processes that are candidates but not yet blocking', () => {
    expect(ticks()([alert(42, 100, false)])).toEqual({ active: [], gone: [] });
  });

  // A reused pid must not inherit the old process's alert: RECOVERY first, a fresh ALERT next tick.
  it('on pid reuse emits the old identity gone this step and the new one active the next', () => {
    const tick = ticks();
    tick([alert(42, 100)]);
    expect(tick([alert(42, 900)])).toEqual({ active: [], gone: [{ pid: 42, reason: 'reused' }] });
    expect(tick([alert(42, 900)])).toEqual({ active: [42], gone: [] });
  });

  it('a vanished process is gone exactly once', () => {
    const tick = ticks();
    tick([alert(42, 100)]);
    expect(tick([])).toEqual({ active: [], gone: [{ pid: 42, reason: 'exited' }] });
    expect(tick([])).toEqual({ active: [], gone: [] });
  });

  it('tells a process that stopped matching from one whose pid went to a non-matching newcomer', () => {
    const tick = ticks();
    tick([alert(42, 100), alert(43, 200)]);
    const step = tick(
      [],
      new Map([
        [42, 100],
        [43, 999],
      ]),
    );
    expect(step.gone).toEqual([
      { pid: 42, reason: 'not_matching' },
      { pid: 43, reason: 'reused' },
    ]);
  });
});

describe('proc_blocking severity', () => {
  it("turns critical at the reap age (WATCHDOG_PROC_REAP_AGE_MIN), and a finished run's leftovers at once", () => {
    const severity = (a: RunAlert) =>
      blockingSignals([], [a], () => undefined, { reapAgeS: 5400, cooldownS: 1800, locale: 'en' })[0]?.severity;
    expect(severity(alert(42, 100, true, 5399))).toBe('warning');
    expect(severity(alert(42, 100, true, 5400))).toBe('critical');
    expect(severity({ ...alert(42, 100, true, 60), goneForS: 10 })).toBe('critical');
  });
});
