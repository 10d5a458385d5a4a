import { describe, expect, it } from 'vitest';
import { isOrphaned, toCandidate } from '../../../src/sources/proc/candidates.js';
import type { MatchedProcess } from '../../../src/sources/proc/scanner.js';

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

const facts = { match: 'program' as const, runPid: 4242, runStartTicks: 100 * 600, isRunTop: true, owner: null };

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
