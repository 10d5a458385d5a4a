import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Collector, makeSignal, type Signal } from '../../src/watchdog/signal.js';
import { manualClock, RecordingNotifier, testApp } from '../support/app.js';
import { waitFor } from '../support/wait-for.js';

afterEach(() => {
  vi.useRealTimers();
});

const mem = (active: boolean): Signal =>
  makeSignal({ family: 'host_mem', entity: null, active, severity: 'critical', title: 'mem', detail: 'd' });

function scripted(name: string, steps: (() => Promise<Signal[]>)[]): Collector & { calls: number } {
  const c = {
    name,
    calls: 0,
    async collect() {
      const step = steps[Math.min(c.calls, steps.length - 1)]!;
      c.calls += 1;
      return step();
    },
  };
  return c;
}

describe('the tick', () => {
  it('collects, decides and dispatches: ALERT, quiet inside the cooldown, REALERT after it, RECOVERY', async () => {
    const clock = manualClock();
    const rec = new RecordingNotifier();
    const on = scripted('mem', [async () => [mem(true)], async () => [mem(true)], async () => [mem(true)], async () => [mem(false)]]);
    const app = await testApp({ cooldownS: 60 }, { clock, collectors: [on], notifiers: [rec] });
    await app.ctx.watchdog.tick();
    clock.advance(30_000);
    await app.ctx.watchdog.tick();
    clock.advance(30_000);
    await app.ctx.watchdog.tick();
    await app.ctx.watchdog.tick();
    await app.ctx.delivery.flush(1000);
    expect(rec.actions()).toEqual(['ALERT host_mem', 'REALERT host_mem', 'RECOVERY host_mem']);
    expect(rec.events[0]?.host).toBe('test-host');
    await app.close();
  });

  it('a collector that throws keeps its previous signals (no false RECOVERY) and does not affect the others', async () => {
    const rec = new RecordingNotifier();
    const flaky = scripted('flaky', [async () => [mem(true)], async () => Promise.reject(new Error('boom'))]);
    const other = scripted('other', [
      async () => [makeSignal({ family: 'dep_down', entity: 'api', active: false, severity: 'critical', title: 't', detail: 'd' })],
    ]);
    const app = await testApp({}, { collectors: [flaky, other], notifiers: [rec] });
    await app.ctx.watchdog.tick();
    const second = await app.ctx.watchdog.tick();
    expect(second.failed).toEqual(['flaky']);
    expect(second.signals.map((s) => [s.key, s.active])).toEqual([
      ['host_mem', true],
      ['dep_down:api', false],
    ]);
    await app.ctx.delivery.flush(1000);
    expect(rec.actions()).toEqual(['ALERT host_mem']);
    const metrics = (await app.inject('/metrics')).body;
    expect(metrics).toMatch(/orch_watchdog_collector_errors_total\{collector="flaky"\} 1/);
    await app.close();
  });

  it('a hung collector is abandoned after its budget and the tick completes', async () => {
    const hung = scripted('hung', [() => new Promise<Signal[]>(() => undefined)]);
    const fine = scripted('fine', [async () => [mem(false)]]);
    const app = await testApp({ httpTimeoutS: 0.05, tickS: 0.1 }, { collectors: [hung, fine] });
    const started = Date.now();
    const result = await app.ctx.watchdog.tick();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(result.failed).toEqual(['hung']);
    expect(result.signals.map((s) => s.key)).toEqual(['host_mem']);
    await app.close();
  });

  it('a collector that throws synchronously (a bug) is contained too', async () => {
    const bug: Collector = {
      name: 'bug',
      collect: () => {
        throw new TypeError('undefined is not a function');
      },
    };
    const app = await testApp({}, { collectors: [bug] });
    await expect(app.ctx.watchdog.tick()).resolves.toMatchObject({ failed: ['bug'] });
    await app.close();
  });

  it('a collector that rejects with a non-Error (undefined, a string, an object without toString) degrades only itself', async () => {
    const odd = [
      undefined,
      'plain string',
      Object.create(null) as object,
      {
        toString: () => {
          throw new Error('no');
        },
      },
    ];
    for (const value of odd) {
      const weird: Collector = { name: 'weird', collect: () => Promise.reject(value) };
      const fine = scripted('fine', [async () => [mem(true)]]);
      const app = await testApp({}, { collectors: [weird, fine] });
      const result = await app.ctx.watchdog.tick();
      expect(result.failed).toEqual(['weird']);
      expect(result.signals.map((s) => [s.key, s.active])).toEqual([['host_mem', true]]);
      await app.close();
    }
  });

  it('ticks never overlap: a tick requested during a slow one joins it', async () => {
    let release!: () => void;
    let running = 0;
    let maxRunning = 0;
    const slow: Collector = {
      name: 'slow',
      async collect() {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await new Promise<void>((r) => (release = r));
        running -= 1;
        return [mem(false)];
      },
    };
    const app = await testApp({ httpTimeoutS: 10 }, { collectors: [slow] });
    const a = app.ctx.watchdog.tick();
    const b = app.ctx.watchdog.tick();
    await waitFor('the slow collector to be running', () => running === 1);
    release();
    expect(await a).toBe(await b);
    expect(maxRunning).toBe(1);
    expect(app.ctx.watchdog.ticks).toBe(1);
    await app.close();
  });

  it('start() ticks on the interval and stop() waits for the in-flight tick', async () => {
    const c = scripted('count', [async () => [mem(false)]]);
    const app = await testApp({ tickS: 0.05 }, { collectors: [c] });
    // Only the timers the loop uses: the interval is tested without sleeping.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    app.ctx.watchdog.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(c.calls).toBe(1);
    await vi.advanceTimersByTimeAsync(50);
    await vi.advanceTimersByTimeAsync(50);
    expect(c.calls).toBe(3);
    await app.ctx.watchdog.stop();
    await vi.advanceTimersByTimeAsync(500);
    expect(c.calls).toBe(3);
    vi.useRealTimers();
    await app.close();
  });

  it('edge signals raised outside the tick go straight to the notifiers', async () => {
    const rec = new RecordingNotifier();
    const app = await testApp({}, { notifiers: [rec] });
    app.ctx.alerts.emitEdge(
      makeSignal({ family: 'merge_gate_exhausted', entity: 'repo@main', active: true, severity: 'critical', title: 't', detail: 'd' }),
    );
    await app.ctx.delivery.flush(1000);
    expect(rec.actions()).toEqual(['ALERT merge_gate_exhausted:repo@main']);
    await app.close();
  });
});
