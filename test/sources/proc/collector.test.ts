import { afterEach, describe, expect, it } from 'vitest';
import type { Collector } from '../../../src/watchdog/signal.js';
import type { Config } from '../../../src/config.js';
import { testConfig } from '../../support/app.js';
import { FakeProc } from '../../support/fake-proc.js';
import { manualClock, RecordingNotifier, testApp } from '../../support/app.js';

const T0 = Date.parse('2026-11-22T12:00:00Z');
const BTIME_S = T0 / 1000 - 86_400; // booted a day before the test clock starts
const CLK_TCK = 100;
/** starttime (ticks after boot) of a process that is `ageS` old at T0 */
const startedAgo = (ageS: number): number => (86_400 - ageS) * CLK_TCK;

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function setup(over: Partial<Config> = {}) {
  const tree = new FakeProc(BTIME_S);
  const clock = manualClock(T0);
  const config = testConfig({ procEnabled: true, procRoot: tree.root, procAgeMin: 60, procCooldownS: 1800, apiToken: 'tok', ...over });
  const notifier = new RecordingNotifier();
  // the app's own ProcCollector (its registry, its edge dispatch), run by the tick through this shim
  const viaApp: Collector = { name: 'proc', collect: (ctx) => app.ctx.proc.collect(ctx) };
  const app = await testApp(config, { clock, collectors: [viaApp], notifiers: [notifier] });
  cleanups.push(
    () => tree.cleanup(),
    () => app.close(),
  );
  const tick = async () => {
    notifier.events.length = 0;
    const result = await app.ctx.watchdog.tick();
    await app.ctx.delivery.flush(2000);
    expect(result.failed).toEqual([]);
    return notifier.actions();
  };
  return { tree, clock, app, tick, notifier };
}

describe('proc_blocking through the tick', () => {
  it('alerts on an old matching process, re-alerts after WATCHDOG_PROC_COOLDOWN_S, recovers exactly once when it exits', async () => {
    const { tree, clock, tick, notifier } = await setup();
    tree.add({
      pid: 4242,
      comm: 'python3',
      ppid: 1,
      pgrp: 4240,
      startTicks: startedAgo(2 * 3600 + 14 * 60),
      utimeTicks: 100,
      argv: ['python3', '-m', 'pytest', '--token', 's3cret'],
    });
    tree.add({ pid: 5000, comm: 'python3', startTicks: startedAgo(60), argv: ['python3', '-m', 'pytest'] }); // young: a candidate, not blocking
    expect(await tick()).toEqual(['ALERT proc_blocking:4242']);
    const alert = notifier.events[0]!.signal;
    expect(alert).toMatchObject({ family: 'proc_blocking', entity: '4242', severity: 'warning', cooldownS: 1800 });
    expect(alert.title).toBe('Test process 4242 has been running for 2 h 14 min');
    expect(alert.detail).toContain('Stop it: kill -TERM 4242');
    expect(alert.detail).not.toContain('s3cret');

    clock.advance(60_000);
    expect(await tick()).toEqual([]);
    clock.advance(1800_000);
    expect(await tick()).toEqual(['REALERT proc_blocking:4242']);

    tree.remove(4242);
    expect(await tick()).toEqual(['RECOVERY proc_blocking:4242']);
    expect(notifier.events[0]!.signal.title).toBe('Test process 4242 is gone');
    expect(await tick()).toEqual([]);
    expect(await tick()).toEqual([]);
  });

  // A pid reused by a new process must not inherit the old alert: the old one recovers, the new one alerts.
  it('on pid reuse recovers the old process and alerts the new one on the next tick', async () => {
    const { tree, clock, tick } = await setup();
    tree.add({ pid: 777, startTicks: startedAgo(7200), argv: ['pytest', 'old'] });
    expect(await tick()).toEqual(['ALERT proc_blocking:777']);
    // the old process exited; a new, already old-enough (by the next look) process got pid 777
    clock.advance(5000 * 1000);
    tree.add({ pid: 777, startTicks: startedAgo(100) + 1000 * CLK_TCK, argv: ['pytest', 'new'] });
    expect(await tick()).toEqual(['RECOVERY proc_blocking:777']);
    expect(await tick()).toEqual(['ALERT proc_blocking:777']);
  });

  it('turns critical at four times the alert age', async () => {
    const { tree, app, tick } = await setup();
    tree.add({ pid: 9, startTicks: startedAgo(4 * 3600), argv: ['pytest'] });
    await tick();
    expect(app.ctx.watchdog.lastTick?.signals[0]?.severity).toBe('critical');
  });

  // The reap age is the operator's own "surely stuck"; a fixed four times the alert age ignored it.
  it('turns critical at WATCHDOG_PROC_REAP_AGE_MIN, whatever the alert age', async () => {
    const { tree, app, tick } = await setup({ procReapAgeMin: 90 });
    tree.add({ pid: 9, startTicks: startedAgo(2 * 3600), argv: ['pytest'] });
    tree.add({ pid: 10, startTicks: startedAgo(80 * 60), argv: ['pytest'] });
    await tick();
    const severities = app.ctx.watchdog.lastTick?.signals.map((s) => [s.key, s.severity]);
    expect(severities?.sort()).toEqual([
      ['proc_blocking:10', 'warning'],
      ['proc_blocking:9', 'critical'],
    ]);
  });
});

describe('GET /proc/candidates', () => {
  it('lists every matching process oldest first with redacted, truncated cmdlines', async () => {
    const { tree, app, tick } = await setup();
    tree.add({ pid: 10, comm: 'tini', startTicks: startedAgo(9000), argv: ['tini', '--', 'sh'] });
    tree.add({
      pid: 42,
      ppid: 10,
      pgrp: 42,
      startTicks: startedAgo(7200),
      utimeTicks: 1500,
      stimeTicks: 500,
      argv: ['pytest', '--password=hunter2', ...Array.from({ length: 100 }, (_, i) => `t${i}.py`)],
    });
    tree.add({ pid: 43, ppid: 300, startTicks: startedAgo(30), argv: ['python3', '-m', 'pytest'] });
    await tick();
    const res = await app.inject('/proc/candidates');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ enabled: true, threshold_s: 3600, scanned_at: '2026-11-22T12:00:00.000Z' });
    expect(body.candidates).toHaveLength(2);
    expect(body.candidates[0]).toMatchObject({ pid: 42, ppid: 10, pgid: 42, age_s: 7200, cpu_s: 20, orphaned: true, blocking: true });
    expect(body.candidates[0].cmdline).toMatch(/^pytest --password=\*\*\* t0\.py/);
    expect(body.candidates[0].cmdline.length).toBeLessThanOrEqual(512);
    expect(body.candidates[1]).toMatchObject({ pid: 43, age_s: 30, orphaned: false, blocking: false });
  });

  it('answers enabled:false and an empty list when WATCHDOG_PROC_ENABLED=false', async () => {
    const { tree, app, tick } = await setup({ procEnabled: false });
    tree.add({ pid: 42, startTicks: startedAgo(7200), argv: ['pytest'] });
    expect(await tick()).toEqual([]);
    expect((await app.inject('/proc/candidates')).json()).toEqual({ enabled: false, threshold_s: 3600, scanned_at: null, candidates: [] });
  });

  it('exports candidates, blocking, oldest age, scan duration and read errors as metrics', async () => {
    const { tree, app, tick } = await setup();
    tree.add({ pid: 42, startTicks: startedAgo(7200), argv: ['pytest'] });
    tree.add({ pid: 43, startTicks: startedAgo(60), argv: ['pytest'] });
    tree.add({ pid: 44, startTicks: 1, rawStat: '44 (broken', argv: ['pytest'] });
    await tick();
    const text = (await app.inject('/metrics')).body;
    expect(text).toMatch(/^orch_watchdog_proc_candidates 2$/m);
    expect(text).toMatch(/^orch_watchdog_proc_blocking 1$/m);
    expect(text).toMatch(/^orch_watchdog_proc_oldest_age_seconds 7200$/m);
    expect(text).toMatch(/^orch_watchdog_proc_scan_duration_seconds_count 1$/m);
    expect(text).toMatch(/^orch_watchdog_proc_read_errors_total\{kind="parse"\} 1$/m);
    expect(text).toMatch(/^orch_watchdog_proc_reaped_total\{trigger="reaper"\} 0$/m);
  });
});

describe('POST /proc/candidates/:pid/terminate checks before it signals', () => {
  const post = (app: Awaited<ReturnType<typeof setup>>['app'], pid: string, token: string | null = 'tok') =>
    app.inject({
      method: 'POST',
      url: `/proc/candidates/${pid}/terminate`,
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
    });

  it('400 for a pid that is not a number', async () => {
    const { app } = await setup();
    const res = await post(app, 'abc');
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('bad_request');
  });

  it('401 without or with a wrong bearer token, 403 when WATCHDOG_API_TOKEN is empty', async () => {
    const { app } = await setup();
    expect((await post(app, '42', null)).statusCode).toBe(401);
    expect((await post(app, '42', 'nope')).statusCode).toBe(401);
    const off = await setup({ apiToken: '' });
    expect((await post(off.app, '42')).statusCode).toBe(403);
  });

  it('404 for a pid that is not a candidate of the last scan', async () => {
    const { tree, app, tick } = await setup();
    tree.add({ pid: 42, startTicks: 1, argv: ['sleep', '1'] });
    await tick();
    const res = await post(app, '42');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'not_found', message: expect.stringContaining('not a candidate') });
  });

  // Pids read from a fixture or a foreign namespace's /proc are not our pids: never signal them.
  it("409 when WATCHDOG_PROC_ROOT is not this process's /proc", async () => {
    const { tree, app, tick } = await setup();
    tree.add({ pid: 42, startTicks: startedAgo(7200), argv: ['pytest'] });
    await tick();
    const res = await post(app, '42');
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toBe('foreign_root');
  });
});
