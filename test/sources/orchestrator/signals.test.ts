import { describe, expect, it } from 'vitest';
import { OrchestratorSignals, type FetchOutcome } from '../../../src/sources/orchestrator/signals.js';

const env = (failed: number, agents: { run_id: string; cpu_ticks: number }[] = []): FetchOutcome => ({
  ok: true,
  envelope: { schema_version: 1, generated_at: 0, queue: { counts: { failed } }, agents },
});
const fail: FetchOutcome = { ok: false, reason: 'connection refused' };
const settings = { downAfter: 3, agentHungS: 900, locale: 'en' as const };
const active = (signals: { key: string; active: boolean }[]) => signals.filter((s) => s.active).map((s) => s.key);

describe('orch_down', () => {
  it('becomes active only after WATCHDOG_ORCH_DOWN_AFTER consecutive failed fetches, and a success resets it', () => {
    const o = new OrchestratorSignals(settings);
    expect(active(o.next(fail, 0))).toEqual([]);
    expect(active(o.next(fail, 1))).toEqual([]);
    const third = o.next(fail, 2);
    expect(active(third)).toEqual(['orch_down']);
    expect(third[0]?.detail).toMatch(/3 consecutive failed fetches; last error: connection refused/);
    expect(active(o.next(env(0), 3))).toEqual([]);
    expect(active(o.next(fail, 4))).toEqual([]);
  });
});

describe('job_failed (edge)', () => {
  it('never fires on the first sample, fires once per increase, and not on a decrease', () => {
    const o = new OrchestratorSignals(settings);
    expect(active(o.next(env(7), 0))).toEqual([]);
    expect(active(o.next(env(7), 1))).toEqual([]);
    const inc = o.next(env(9), 2);
    expect(active(inc)).toEqual(['job_failed']);
    expect(inc.find((s) => s.family === 'job_failed')?.detail).toBe('failed jobs 7 → 9 (+2)');
    expect(active(o.next(env(9), 3))).toEqual([]);
    expect(active(o.next(env(2), 4))).toEqual([]);
    expect(active(o.next(env(3), 5))).toEqual(['job_failed']);
  });

  it('a failed fetch in between keeps the baseline', () => {
    const o = new OrchestratorSignals(settings);
    o.next(env(1), 0);
    o.next(fail, 1);
    expect(active(o.next(env(2), 2))).toEqual(['job_failed']);
  });
});

describe('agent_hung', () => {
  const a = (cpu: number) => [{ run_id: '678', cpu_ticks: cpu }];

  it('is active when cpu_ticks did not move for WATCHDOG_AGENT_HUNG_S and recovers when they move', () => {
    const o = new OrchestratorSignals(settings);
    expect(active(o.next(env(0, a(100)), 0))).toEqual([]);
    expect(active(o.next(env(0, a(100)), 899_999))).toEqual([]);
    const hung = o.next(env(0, a(100)), 900_000);
    expect(active(hung)).toEqual(['agent_hung:678']);
    expect(hung.find((s) => s.active)?.detail).toMatch(/cpu_ticks stuck at 100 for 15 min/);
    expect(active(o.next(env(0, a(101)), 900_001))).toEqual([]);
  });

  it('an agent that leaves the envelope disappears from the signals (which recovers it)', () => {
    const o = new OrchestratorSignals(settings);
    o.next(env(0, a(1)), 0);
    expect(active(o.next(env(0, a(1)), 1_000_000))).toEqual(['agent_hung:678']);
    expect(o.next(env(0, []), 1_000_001).map((s) => s.key)).toEqual(['orch_down']);
  });

  it('a failed fetch freezes the agents’ last verdict instead of declaring them hung or recovered', () => {
    const o = new OrchestratorSignals(settings);
    o.next(env(0, a(1)), 0);
    expect(active(o.next(env(0, a(1)), 1_000_000))).toEqual(['agent_hung:678']);
    expect(active(o.next(fail, 1_000_001))).toEqual(['agent_hung:678']);
  });
});
