import { describe, expect, it } from 'vitest';
import { InfraRequeueLedger, mergeDecision, requeueDelayMs } from '../../src/merge-gate/policy.js';
import type { Outcome } from '../../src/merge-gate/types.js';

/** The ledger's count for api@x, as the state file keeps it. */
const countOf = (ledger: InfraRequeueLedger) => ledger.entries().find(([r, b]) => r === 'api' && b === 'x')?.[2] ?? 0;
const policy = (retryMax: number, infraRequeue = true) => ({ mergeInfraRetryMax: retryMax, mergeInfraRequeue: infraRequeue });

describe('mergeDecision (the outcome -> decision table of docs/merge-gate.md)', () => {
  const table: [Outcome, number, number, string | null][] = [
    ['pass', 0, 3, 'merge'],
    ['skipped', 2, 3, 'merge'],
    ['red', 0, 3, 'rollback'],
    ['other', 0, 3, 'rollback'],
    ['timeout', 0, 3, 'requeue'],
    ['timeout', 2, 3, 'requeue'],
    ['timeout', 3, 3, 'exhausted'],
    ['lock_busy', 1, 3, 'requeue'],
    ['lock_busy', 3, 3, 'exhausted'],
    ['infra', 0, 3, 'requeue'],
    ['infra', 3, 3, 'exhausted'],
    ['timeout', 0, 0, 'exhausted'],
    ['cancelled', 0, 3, null],
  ];
  for (const [outcome, sofar, max, expected] of table) {
    it(`${outcome} after ${sofar} of ${max} infra re-queues -> ${expected}`, () =>
      expect(mergeDecision(outcome, sofar, policy(max))).toBe(expected));
  }

  it('WATCHDOG_MERGE_INFRA_REQUEUE=false: every failure rolls back (the original behaviour)', () => {
    expect((['timeout', 'lock_busy', 'infra', 'red', 'other'] as Outcome[]).map((o) => mergeDecision(o, 0, policy(3, false)))).toEqual(
      Array(5).fill('rollback'),
    );
    expect(mergeDecision('pass', 0, policy(3, false))).toBe('merge');
  });
});

describe('back-off: WATCHDOG_MERGE_REQUEUE_DELAY_S × 2^(attempt−1)', () => {
  it('60 s, 120 s, 240 s after attempts 1, 2, 3; 0 disables it', () => {
    expect([1, 2, 3].map((a) => requeueDelayMs(a, 60))).toEqual([60_000, 120_000, 240_000]);
    expect(requeueDelayMs(2, 0)).toBe(0);
  });
});

describe('infra re-queues are counted per (repo, branch)', () => {
  it('a starving host re-queues three times, then gives up exactly once', () => {
    const ledger = new InfraRequeueLedger(policy(3));
    const decisions = ['timeout', 'lock_busy', 'infra', 'timeout'].map((o) => ledger.record('api', 'feat-x', o as Outcome));
    expect(decisions).toEqual(['requeue', 'requeue', 'requeue', 'exhausted']);
  });

  it('branches and repos do not share a budget', () => {
    const ledger = new InfraRequeueLedger(policy(1));
    expect(ledger.record('api', 'a', 'timeout')).toBe('requeue');
    expect(ledger.record('api', 'b', 'timeout')).toBe('requeue');
    expect(ledger.record('web', 'a', 'timeout')).toBe('requeue');
    expect(ledger.record('api', 'a', 'timeout')).toBe('exhausted');
  });

  it('a repo/branch pair cannot collide with another by its separator', () => {
    const ledger = new InfraRequeueLedger(policy(1));
    expect(ledger.record('a@b', 'c', 'timeout')).toBe('requeue');
    expect(ledger.record('a', 'b@c', 'timeout')).toBe('requeue');
  });

  it('a pass or a red resets the count; other and cancelled do not', () => {
    const ledger = new InfraRequeueLedger(policy(2));
    ledger.record('api', 'x', 'timeout');
    ledger.record('api', 'x', 'pass');
    expect(countOf(ledger)).toBe(0);
    ledger.record('api', 'x', 'timeout');
    ledger.record('api', 'x', 'red');
    expect(countOf(ledger)).toBe(0);
    ledger.record('api', 'x', 'timeout');
    ledger.record('api', 'x', 'other');
    ledger.record('api', 'x', 'cancelled');
    expect(countOf(ledger)).toBe(1);
  });

  it('after exhaustion a fresh request starts with a fresh budget', () => {
    const ledger = new InfraRequeueLedger(policy(1));
    expect(ledger.record('api', 'x', 'timeout')).toBe('requeue');
    expect(ledger.record('api', 'x', 'timeout')).toBe('exhausted');
    expect(ledger.record('api', 'x', 'timeout')).toBe('requeue');
  });
});
