import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { MergeGate } from '../../src/merge-gate/gate.js';
import {
  gateOptions as options,
  manualPressure,
  manualRunner,
  retestRequest as request,
  runReport as report,
} from '../support/merge-gate.js';

const log = createLogger({ level: 'silent' });
// Fake timers fake Date too: the gate's injected clock and its wake-up timer move together.
const clock = () => Date.now();
const timedOut = () => report({ returncode: null, signal: 'SIGTERM', timed_out: true });
const S = 1000;

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-11-22T12:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('back-off: an infra re-queue waits WATCHDOG_MERGE_REQUEUE_DELAY_S × 2^(attempt−1) (issue 12: three attempts burnt in minutes)', () => {
  it('60 s after attempt 1, 120 s after attempt 2; not_before says when; other repos are not held', async () => {
    const runner = manualRunner();
    const gate = new MergeGate(options({ mergeRequeueDelayS: 60 }), { clock, log, run: runner.run, pressure: manualPressure(0) });
    const first = gate.enqueue(request('api', 'feat-x'));
    runner.started[0]!.finish(timedOut());
    await vi.advanceTimersByTimeAsync(0);
    const second = gate.get(gate.get(first.id)!.requeuedAs!)!;
    expect(second).toMatchObject({ status: 'queued', attempt: 2, waiting: 'backoff', notBefore: Date.now() + 60 * S });

    gate.enqueue(request('web'));
    expect(runner.names()).toEqual(['api', 'web']);
    runner.started[1]!.finish(report({}));
    await vi.advanceTimersByTimeAsync(59 * S);
    expect(runner.started).toHaveLength(2);
    expect(gate.get(second.id)!.status).toBe('queued');
    await vi.advanceTimersByTimeAsync(1 * S);
    expect(runner.started).toHaveLength(3);
    expect(gate.get(second.id)).toMatchObject({ status: 'running', waiting: null });

    runner.started[2]!.finish(timedOut());
    await vi.advanceTimersByTimeAsync(0);
    const third = gate.get(gate.get(second.id)!.requeuedAs!)!;
    expect(third.notBefore! - Date.now()).toBe(120 * S);
    await vi.advanceTimersByTimeAsync(119 * S);
    expect(runner.started).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1 * S);
    expect(runner.started).toHaveLength(4);
    runner.started[3]!.finish(report({}));
    await vi.advanceTimersByTimeAsync(0);
    await gate.idle();
  });
});

describe('pressure-aware start: nothing starts while the CPU is starved (issue 12: re-queued into the same starved host)', () => {
  it('a queued re-test waits with waiting cpu_pressure and the value, and starts when the pressure falls', async () => {
    const runner = manualRunner();
    const pressure = manualPressure(87.5);
    const gate = new MergeGate(options({ mergeMaxCpuPressure: 50, mergePressureWaitS: 600, pressurePollMs: 2 * S }), {
      clock,
      log,
      run: runner.run,
      pressure,
    });
    const run = gate.enqueue(request('api'));
    expect(gate.get(run.id)).toMatchObject({ status: 'queued', waiting: 'cpu_pressure', waitingValue: 87.5 });
    pressure.cpu = 64;
    await vi.advanceTimersByTimeAsync(2 * S);
    expect(gate.get(run.id)).toMatchObject({ status: 'queued', waitingValue: 64 });
    pressure.cpu = 12;
    await vi.advanceTimersByTimeAsync(2 * S);
    expect(runner.started).toHaveLength(1);
    expect(gate.get(run.id)).toMatchObject({ status: 'running', waiting: null });
    expect(gate.get(run.id)!.startedUnderPressure).toBeUndefined();
    runner.started[0]!.finish(report({}));
    await vi.advanceTimersByTimeAsync(0);
  });

  it('after WATCHDOG_MERGE_PRESSURE_WAIT_S it starts anyway and records that it did', async () => {
    const runner = manualRunner();
    const gate = new MergeGate(options({ mergeMaxCpuPressure: 50, mergePressureWaitS: 600 }), {
      clock,
      log,
      run: runner.run,
      pressure: manualPressure(95),
    });
    const run = gate.enqueue(request('api'));
    await vi.advanceTimersByTimeAsync(599 * S);
    expect(runner.started).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1 * S);
    expect(runner.started).toHaveLength(1);
    expect(gate.get(run.id)).toMatchObject({ status: 'running', startedUnderPressure: true });
    runner.started[0]!.finish(report({}));
    await vi.advanceTimersByTimeAsync(0);
  });

  it('the pressure wait starts after the back-off, not before it', async () => {
    const runner = manualRunner();
    const pressure = manualPressure(0);
    const gate = new MergeGate(options({ mergeRequeueDelayS: 60, mergeMaxCpuPressure: 50, mergePressureWaitS: 30 }), {
      clock,
      log,
      run: runner.run,
      pressure,
    });
    const first = gate.enqueue(request('api'));
    pressure.cpu = 99;
    runner.started[0]!.finish(timedOut());
    await vi.advanceTimersByTimeAsync(0);
    const second = gate.get(first.id)!.requeuedAs!;
    await vi.advanceTimersByTimeAsync(60 * S);
    expect(gate.get(second)).toMatchObject({ status: 'queued', waiting: 'cpu_pressure' });
    await vi.advanceTimersByTimeAsync(29 * S);
    expect(runner.started).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1 * S);
    expect(runner.started).toHaveLength(2);
    expect(gate.get(second)!.startedUnderPressure).toBe(true);
    runner.started[1]!.finish(report({}));
    await vi.advanceTimersByTimeAsync(0);
  });
});
