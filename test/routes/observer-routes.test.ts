import { describe, expect, it } from 'vitest';
import { type Collector, makeSignal } from '../../src/watchdog/signal.js';
import { manualClock, testApp } from '../support/app.js';

const proc: Collector = {
  name: 'fake-proc',
  async collect() {
    return [
      makeSignal({
        family: 'proc_blocking',
        entity: '4242',
        active: true,
        severity: 'warning',
        title: 'pytest',
        detail: 'd',
        cooldownS: 5,
      }),
      makeSignal({ family: 'host_mem', entity: null, active: false, severity: 'critical', title: 'mem', detail: 'ok' }),
    ];
  },
};

describe('GET /healthz', () => {
  it('answers ok with tick facts after a tick', async () => {
    const app = await testApp({}, { collectors: [proc] });
    await app.ctx.watchdog.tick();
    const res = await app.inject('/healthz');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok', tick_count: 1, config_warnings: [], failed_collectors: [] });
    expect(res.json().last_tick_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(typeof res.json().last_tick_duration_s).toBe('number');
    await app.close();
  });

  it('answers 503 when no tick finished within 3 × WATCHDOG_TICK_S (a wedged loop pages someone)', async () => {
    const clock = manualClock();
    const app = await testApp({ tickS: 10 }, { clock, collectors: [proc] });
    await app.ctx.watchdog.tick();
    clock.advance(30_000);
    expect((await app.inject('/healthz')).statusCode).toBe(200);
    clock.advance(1);
    const res = await app.inject('/healthz');
    expect(res.statusCode).toBe(503);
    expect(res.json().status).toBe('degraded');
    await app.close();
  });

  it('answers 503 with tick_count 0 until the first tick finished, then 200 (it said 200 "ok" before anything was checked)', async () => {
    const clock = manualClock();
    const app = await testApp({ tickS: 30 }, { clock, collectors: [proc] });
    const before = await app.inject('/healthz');
    expect(before.statusCode).toBe(503);
    expect(before.json()).toMatchObject({ status: 'degraded', tick_count: 0, last_tick_at: null });
    await app.ctx.watchdog.tick();
    expect((await app.inject('/healthz')).statusCode).toBe(200);
    await app.close();
  });

  it('answers 503 when the first tick never finished', async () => {
    const clock = manualClock();
    const app = await testApp({ tickS: 1 }, { clock });
    clock.advance(3001);
    const res = await app.inject('/healthz');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ last_tick_at: null, tick_count: 0, last_tick_duration_s: null });
    await app.close();
  });

  it('is degraded and lists config warnings when a value fell back to its default', async () => {
    const warnings = [{ key: 'WATCHDOG_PORT', value: 'x', message: 'expected a whole number; using the default "8787"' }];
    const app = await testApp({}, { configWarnings: warnings });
    await app.ctx.watchdog.tick();
    const res = await app.inject('/healthz');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'degraded', config_warnings: warnings });
    expect((await app.inject('/metrics')).body).toMatch(/^orch_watchdog_config_warnings 1$/m);
    await app.close();
  });
});

describe('GET /metrics', () => {
  it('describes proc_candidates by the program rule it counts (its help still said "command line matches")', async () => {
    const app = await testApp();
    const help = /^# HELP orch_watchdog_proc_candidates (.*)$/m.exec((await app.inject('/metrics')).body)?.[1];
    expect(help).toMatch(/program \(WATCHDOG_PROC_MATCH\) matches WATCHDOG_PROC_PATTERNS/);
    expect(help).not.toMatch(/command line matches/);
    await app.close();
  });
});

describe('GET /signals and /alert-states', () => {
  it('serve the last tick’s signals (internal fields stripped) and the alert states', async () => {
    const clock = manualClock();
    const app = await testApp({}, { clock, collectors: [proc] });
    expect((await app.inject('/signals')).json()).toEqual({ generated_at: null, signals: [] });
    await app.ctx.watchdog.tick();
    const signals = (await app.inject('/signals')).json();
    expect(signals.signals).toEqual([
      {
        key: 'proc_blocking:4242',
        family: 'proc_blocking',
        entity: '4242',
        active: true,
        severity: 'warning',
        title: 'pytest',
        detail: 'd',
      },
      { key: 'host_mem', family: 'host_mem', entity: null, active: false, severity: 'critical', title: 'mem', detail: 'ok' },
    ]);
    const states = (await app.inject('/alert-states')).json();
    expect(states.states).toEqual([
      {
        key: 'proc_blocking:4242',
        family: 'proc_blocking',
        entity: '4242',
        alerting: true,
        last_alert_at: new Date(clock()).toISOString(),
      },
    ]);
    await app.close();
  });
});

describe('errors', () => {
  it('an unknown route is a JSON 404 in the one error shape', async () => {
    const app = await testApp();
    const res = await app.inject('/nope?x=1');
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.json()).toEqual({ error: 'not_found', message: 'no route GET /nope; see GET /openapi.json' });
    await app.close();
  });
});

describe('GET /metrics', () => {
  it('exposes the core series from this app’s own registry', async () => {
    const app = await testApp({}, { collectors: [proc] });
    await app.ctx.watchdog.tick();
    const res = await app.inject('/metrics');
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.body).toMatch(/^orch_watchdog_signals_active\{family="proc_blocking"\} 1$/m);
    expect(res.body).toMatch(/^orch_watchdog_alerts_total\{family="proc_blocking",action="ALERT"\} 1$/m);
    expect(res.body).toMatch(/^orch_watchdog_tick_duration_seconds_count 1$/m);
    expect(res.body).toMatch(/^orch_watchdog_process_cpu_seconds_total /m);
    await app.close();
  });

  it('two apps in one process keep separate registries', async () => {
    const a = await testApp({}, { collectors: [proc] });
    const b = await testApp();
    await a.ctx.watchdog.tick();
    expect((await b.inject('/metrics')).body).toMatch(/^orch_watchdog_ticks_total 0$/m);
    await Promise.all([a.close(), b.close()]);
  });
});
