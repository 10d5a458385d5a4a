import { describe, expect, it } from 'vitest';
import { BlockingTracker } from '../../../src/sources/proc/blocking-tracker.js';
import type { TrackedUnit } from '../../../src/sources/proc/blocking-tracker.js';

const cand = (pid: number, startTicks: number, isBlocking = true): TrackedUnit => ({ pid, startTicks, isBlocking });

const starts = (...cs: TrackedUnit[]) => new Map(cs.map((c) => [c.pid, c.startTicks]));

describe('BlockingTracker keeps the (pid, starttime) identity behind each alert', () => {
  it('keeps a blocking process active tick after tick', () => {
    const t = new BlockingTracker();
    const c = cand(42, 100);
    expect(t.step([c], starts(c))).toEqual({ active: [c], gone: [] });
    expect(t.step([c], starts(c))).toEqual({ active: [c], gone: [] });
  });

  it('does not emit processes that are candidates but not yet blocking', () => {
    const t = new BlockingTracker();
    const c = cand(42, 100, false);
    expect(t.step([c], starts(c))).toEqual({ active: [], gone: [] });
  });

  // A reused pid must not inherit the old process's alert: RECOVERY first, a fresh ALERT next tick.
  it('on pid reuse emits the old identity gone this step and the new one active the next', () => {
    const t = new BlockingTracker();
    const old = cand(42, 100);
    const fresh = cand(42, 900);
    t.step([old], starts(old));
    expect(t.step([fresh], starts(fresh))).toEqual({ active: [], gone: [{ pid: 42, reason: 'reused' }] });
    expect(t.step([fresh], starts(fresh))).toEqual({ active: [fresh], gone: [] });
  });

  it('a vanished process is gone exactly once', () => {
    const t = new BlockingTracker();
    const c = cand(42, 100);
    t.step([c], starts(c));
    expect(t.step([], new Map())).toEqual({ active: [], gone: [{ pid: 42, reason: 'exited' }] });
    expect(t.step([], new Map())).toEqual({ active: [], gone: [] });
    expect(t.activePids()).toEqual([]);
  });

  it('tells a process that stopped matching from one whose pid went to a non-matching newcomer', () => {
    const t = new BlockingTracker();
    const a = cand(42, 100);
    const b = cand(43, 200);
    t.step([a, b], starts(a, b));
    const step = t.step(
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
