import { describe, expect, it } from 'vitest';
import { decide, InfraRequeueLedger } from '../../src/merge-gate/policy.js';
import type { Outcome } from '../../src/merge-gate/types.js';

describe('decide (CONTRACT §6)', () => {
  const table: [Outcome, number, number, string][] = [
    ['pass', 0, 3, 'merge'],
    ['skipped', 2, 3, 'merge'],
    ['red', 0, 3, 'rollback'],
    ['other', 0, 3, 'rollback'],
    ['timeout', 0, 3, 'requeue'],
    ['timeout', 2, 3, 'requeue'],
    ['timeout', 3, 3, 'exhausted'],
    ['lock_busy', 1, 3, 'requeue'],
    ['lock_busy', 3, 3, 'exhausted'],
    ['timeout', 0, 0, 'exhausted'],
  ];
  for (const [outcome, sofar, max, expected] of table) {
    it(`${outcome} after ${sofar} of ${max} infra re-queues -> ${expected}`, () => expect(decide(outcome, sofar, max)).toBe(expected));
  }
});

describe('infra re-queues are counted per (repo, branch)', () => {
  it('a starving host re-queues three times, then gives up exactly once', () => {
    const ledger = new InfraRequeueLedger(3);
    const decisions = ['timeout', 'lock_busy', 'timeout', 'timeout'].map((o) => ledger.record('api', 'feat-x', o as Outcome));
    expect(decisions).toEqual(['requeue', 'requeue', 'requeue', 'exhausted']);
  });

  it('branches and repos do not share a budget', () => {
    const ledger = new InfraRequeueLedger(1);
    expect(ledger.record('api', 'a', 'timeout')).toBe('requeue');
    expect(ledger.record('api', 'b', 'timeout')).toBe('requeue');
    expect(ledger.record('web', 'a', 'timeout')).toBe('requeue');
    expect(ledger.record('api', 'a', 'timeout')).toBe('exhausted');
  });

  it('a repo/branch pair cannot collide with another by its separator', () => {
    const ledger = new InfraRequeueLedger(1);
    expect(ledger.record('a@b', 'c', 'timeout')).toBe('requeue');
    expect(ledger.record('a', 'b@c', 'timeout')).toBe('requeue');
  });

  it('a pass or a red resets the count; other does not', () => {
    const ledger = new InfraRequeueLedger(2);
    ledger.record('api', 'x', 'timeout');
    ledger.record('api', 'x', 'pass');
    expect(ledger.count('api', 'x')).toBe(0);
    ledger.record('api', 'x', 'timeout');
    ledger.record('api', 'x', 'red');
    expect(ledger.count('api', 'x')).toBe(0);
    ledger.record('api', 'x', 'timeout');
    ledger.record('api', 'x', 'other');
    expect(ledger.count('api', 'x')).toBe(1);
  });

  it('after exhaustion a fresh request starts with a fresh budget', () => {
    const ledger = new InfraRequeueLedger(1);
    expect(ledger.record('api', 'x', 'timeout')).toBe('requeue');
    expect(ledger.record('api', 'x', 'timeout')).toBe('exhausted');
    expect(ledger.record('api', 'x', 'timeout')).toBe('requeue');
  });
});
