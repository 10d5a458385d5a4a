import { describe, expect, it } from 'vitest';
import { backoffMs, overflowVictim, type QueueOptions } from '../../src/notify/delivery-queue.js';
import { createDelivery } from '../../src/notify/delivery.js';
import type { AlertEvent } from '../../src/watchdog/alert-event.js';
import { alertEvent } from './events.js';
import { capturedLog, metricLines, Registry, ScriptedNotifier } from './support.js';
import { waitFor } from '../support/wait-for.js';

const fast: Partial<QueueOptions> = { backoffBaseMs: 20, backoffMaxMs: 100, random: () => 0.5 };
const retry = (reason = 'server_error') => ({ ok: false as const, retry: true as const, reason });

function setup(notifiers: ScriptedNotifier[], queue: Partial<QueueOptions> = {}) {
  const registry = new Registry();
  const captured = capturedLog();
  const delivery = createDelivery(notifiers, { log: captured.log, registry, queue: { ...fast, ...queue } });
  return { delivery, registry, ...captured };
}

const ev = (action: AlertEvent['action'], entity: string): AlertEvent => alertEvent(action, { entity });

describe('ordered, exactly-once delivery through failures', () => {
  it('retries server errors until sent; every event arrives once, in order', async () => {
    const n = new ScriptedNotifier('tg', [retry(), retry('timeout'), retry('connection')]);
    const { delivery, registry } = setup([n]);
    delivery.enqueue(ev('ALERT', 'a'));
    delivery.enqueue(ev('ALERT', 'b'));
    delivery.enqueue(ev('RECOVERY', 'a'));
    await delivery.flush(5_000);
    expect(n.delivered).toEqual(['ALERT proc_blocking:a', 'ALERT proc_blocking:b', 'RECOVERY proc_blocking:a']);
    expect(n.calls).toHaveLength(6);
    expect(await metricLines(registry, 'orch_watchdog_notification_failures_total')).toEqual([
      'orch_watchdog_notification_failures_total{integration="tg",reason="server_error"} 1',
      'orch_watchdog_notification_failures_total{integration="tg",reason="timeout"} 1',
      'orch_watchdog_notification_failures_total{integration="tg",reason="connection"} 1',
    ]);
    expect(await metricLines(registry, 'orch_watchdog_notifications_sent_total')).toEqual([
      'orch_watchdog_notifications_sent_total{integration="tg",action="ALERT"} 2',
      'orch_watchdog_notifications_sent_total{integration="tg",action="RECOVERY"} 1',
    ]);
  });

  it('a RECOVERY raised while its ALERT is still being retried never overtakes it', async () => {
    const n = new ScriptedNotifier('tg', [retry(), retry(), retry(), retry()]);
    const { delivery } = setup([n]);
    delivery.enqueue(ev('ALERT', 'x'));
    await waitFor('n.calls.length >= 2', () => n.calls.length >= 2);
    delivery.enqueue(ev('RECOVERY', 'x'));
    await delivery.flush(5_000);
    expect(n.delivered).toEqual(['ALERT proc_blocking:x', 'RECOVERY proc_blocking:x']);
  });

  it('a server-given pause (429 retry_after) is waited out before the retry', async () => {
    const n = new ScriptedNotifier('tg', [{ ok: false, retry: true, reason: 'rate_limited', afterS: 0.4 }]);
    const { delivery } = setup([n]);
    delivery.enqueue(ev('ALERT', 'a'));
    await delivery.flush(5_000);
    expect(n.calls).toHaveLength(2);
    expect(n.calls[1]!.atMs - n.calls[0]!.atMs).toBeGreaterThanOrEqual(395);
  });

  it('a rejected event (4xx) is logged with its reason, counted, and does not block the next', async () => {
    const n = new ScriptedNotifier('tg', [{ ok: false, retry: false, reason: 'client_error', detail: 'HTTP 400: Bad Request: chat not found' }]);
    const { delivery, registry, records } = setup([n]);
    delivery.enqueue(ev('ALERT', 'a'));
    delivery.enqueue(ev('ALERT', 'b'));
    await delivery.flush(5_000);
    expect(n.delivered).toEqual(['ALERT proc_blocking:b']);
    expect(records().find((r) => r.msg === 'notification rejected; not retried')).toMatchObject({
      integration: 'tg',
      key: 'proc_blocking:a',
      reason: 'client_error',
      detail: 'HTTP 400: Bad Request: chat not found',
    });
    expect(await metricLines(registry, 'orch_watchdog_notification_failures_total')).toEqual([
      'orch_watchdog_notification_failures_total{integration="tg",reason="client_error"} 1',
    ]);
  });

  it('a failure detail quoting a URL with credentials or a bot token is redacted in the log', async () => {
    const detail = 'HTTP 403 from http://hook:hookPassSecret@h/x?token=qSecret via /bot123456:AAHbotTokenSecretbotTokenSecret0123/sendMessage';
    const n = new ScriptedNotifier('tg', [{ ok: false, retry: false, reason: 'client_error', detail }, 'throw']);
    const { delivery, lines } = setup([n]);
    delivery.enqueue(ev('ALERT', 'a'));
    delivery.enqueue(ev('ALERT', 'b'));
    await delivery.flush(5_000);
    const all = lines.join('');
    expect(all).toContain('notification rejected; not retried');
    expect(all).not.toMatch(/hookPassSecret|qSecret|AAHbotTokenSecret/);
  });

  it('a notifier that throws (a bug) is logged and given up instead of looping', async () => {
    const n = new ScriptedNotifier('tg', ['throw']);
    const { delivery, registry, records } = setup([n]);
    delivery.enqueue(ev('ALERT', 'a'));
    delivery.enqueue(ev('ALERT', 'b'));
    await delivery.flush(5_000);
    expect(n.delivered).toEqual(['ALERT proc_blocking:b']);
    const crash = records().find((r) => r.msg === 'notifier threw (a bug); notification given up');
    expect(crash).toMatchObject({ integration: 'tg', key: 'proc_blocking:a', err: { message: 'bug in notifier' } });
    expect(await metricLines(registry, 'orch_watchdog_notification_failures_total')).toEqual([
      'orch_watchdog_notification_failures_total{integration="tg",reason="internal_error"} 1',
    ]);
  });
});

describe('fan-out: one failing integration never delays the others or the tick', () => {
  it('a hung Telegram does not hold back the webhook, and enqueue returns at once', async () => {
    const hung = new ScriptedNotifier('telegram', ['hang']);
    const ok = new ScriptedNotifier('webhook');
    const { delivery } = setup([hung, ok]);
    const started = performance.now();
    delivery.enqueue(ev('ALERT', 'a'));
    delivery.enqueue(ev('RECOVERY', 'a'));
    expect(performance.now() - started).toBeLessThan(250);
    await waitFor('ok.delivered.length === 2', () => ok.delivered.length === 2);
    expect(hung.delivered).toEqual([]);
    hung.release();
    await delivery.flush(5_000);
    expect(hung.delivered).toEqual(['ALERT proc_blocking:a', 'RECOVERY proc_blocking:a']);
  });
});

describe('secrets', () => {
  it('every integration, the log one included, gets title and detail with secrets redacted', async () => {
    const n = new ScriptedNotifier('log');
    const { delivery } = setup([n]);
    delivery.enqueue(alertEvent('ALERT', { title: 'deploy --api-key=k3y', detail: 'pytest --password hunter2 https://bob:pw1@git.example/x' }));
    await delivery.flush(5_000);
    const { title, detail } = n.events[0]!.signal;
    expect(`${title} ${detail}`).not.toMatch(/k3y|hunter2|pw1/);
    expect(detail).toContain('--password ***');
  });
});

describe('pacing', () => {
  it('leaves minIntervalMs between two sends of one integration', async () => {
    const n = new ScriptedNotifier('tg', [], 150);
    const { delivery } = setup([n]);
    for (const e of ['a', 'b', 'c']) delivery.enqueue(ev('ALERT', e));
    await delivery.flush(5_000);
    const gaps = n.calls.slice(1).map((c, i) => c.atMs - n.calls[i]!.atMs);
    expect(gaps.every((g) => g >= 148)).toBe(true);
  });
});

describe('overflow: bounded queue drops the oldest REALERT first', () => {
  it('keeps ALERTs and RECOVERYs while REALERTs can go; counts and logs each drop', async () => {
    const n = new ScriptedNotifier('tg', ['hang']);
    const { delivery, registry, records } = setup([n], { capacity: 3 });
    delivery.enqueue(ev('ALERT', 'a')); // in flight
    await waitFor('n.calls.length === 1', () => n.calls.length === 1);
    delivery.enqueue(ev('REALERT', 'b'));
    delivery.enqueue(ev('ALERT', 'c'));
    delivery.enqueue(ev('REALERT', 'd')); // full: REALERT b goes
    delivery.enqueue(ev('RECOVERY', 'c')); // full: REALERT d goes
    delivery.enqueue(ev('RECOVERY', 'a')); // full, no REALERT left: the oldest queued (ALERT c) goes, never the one in flight
    expect(delivery.depths().get('tg')).toBe(3);
    expect(await metricLines(registry, 'orch_watchdog_notification_queue_depth')).toEqual(['orch_watchdog_notification_queue_depth{integration="tg"} 3']);
    n.release();
    await delivery.flush(5_000);
    expect(n.delivered).toEqual(['ALERT proc_blocking:a', 'RECOVERY proc_blocking:c', 'RECOVERY proc_blocking:a']);
    expect(await metricLines(registry, 'orch_watchdog_notifications_dropped_total')).toEqual(['orch_watchdog_notifications_dropped_total{integration="tg"} 3']);
    const drops = records().filter((r) => r.msg === 'notification dropped: queue full');
    expect(drops.map((r) => `${String(r.action)} ${String(r.key)}`)).toEqual(['REALERT proc_blocking:b', 'REALERT proc_blocking:d', 'ALERT proc_blocking:c']);
  });

  it('overflowVictim prefers the oldest REALERT and never the event in flight', () => {
    expect(overflowVictim(['ALERT', 'ALERT', 'REALERT', 'REALERT'], true)).toBe(2);
    expect(overflowVictim(['REALERT', 'ALERT', 'RECOVERY'], true)).toBe(1);
    expect(overflowVictim(['REALERT', 'ALERT', 'RECOVERY'], false)).toBe(0);
  });
});

describe('backoff', () => {
  it('doubles per attempt up to the cap, jittered between 50 % and 100 %', () => {
    const opts = { backoffBaseMs: 1000, backoffMaxMs: 60_000 };
    expect([1, 2, 3, 4].map((a) => backoffMs(a, { ...opts, random: () => 1 }))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffMs(20, { ...opts, random: () => 1 })).toBe(60_000);
    expect(backoffMs(3, { ...opts, random: () => 0 })).toBe(2000);
  });
});

describe('shutdown', () => {
  it('flush cuts a long backoff short so a recovered integration still gets the event', async () => {
    const n = new ScriptedNotifier('tg', [retry()]);
    const { delivery } = setup([n], { backoffBaseMs: 60_000, backoffMaxMs: 60_000 });
    delivery.enqueue(ev('ALERT', 'a'));
    await waitFor('n.calls.length === 1', () => n.calls.length === 1);
    const started = performance.now();
    await delivery.flush(5_000);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(n.delivered).toEqual(['ALERT proc_blocking:a']);
  });

  it('flush gives up after its timeout; close aborts the send, counts the rest as dropped and closes the notifiers', async () => {
    const n = new ScriptedNotifier('tg', ['hang', 'hang']);
    const { delivery, registry, records } = setup([n]);
    delivery.enqueue(ev('ALERT', 'a'));
    delivery.enqueue(ev('ALERT', 'b'));
    const started = performance.now();
    await delivery.flush(300);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(records().find((r) => r.msg === 'notifications still pending after flush')).toMatchObject({ integration: 'tg', pending: 2 });
    await delivery.close();
    expect(n.isClosed).toBe(true);
    expect(n.delivered).toEqual([]);
    expect(await metricLines(registry, 'orch_watchdog_notifications_dropped_total')).toEqual(['orch_watchdog_notifications_dropped_total{integration="tg"} 2']);
    delivery.enqueue(ev('ALERT', 'late'));
    expect(n.calls).toHaveLength(1);
  });
});
