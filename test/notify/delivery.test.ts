import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffMs, type QueueOptions } from '../../src/notify/delivery-queue.js';
import { QueuedDelivery } from '../../src/notify/delivery.js';
import type { AlertEvent } from '../../src/watchdog/signal.js';
import { alertEvent } from '../support/alert-events.js';
import { capturedLog, metricLines, Registry, ScriptedNotifier } from '../support/notify.js';
import { waitFor } from '../support/wait-for.js';

const fast: Partial<QueueOptions> = { backoffBaseMs: 20, backoffMaxMs: 100, random: () => 0.5 };
const retry = (reason = 'server_error') => ({ ok: false as const, retry: true as const, reason });

function setup(notifiers: ScriptedNotifier[], queue: Partial<QueueOptions> = {}) {
  const registry = new Registry();
  const captured = capturedLog();
  const delivery = new QueuedDelivery(notifiers, { log: captured.log, registry, queue: { ...fast, ...queue } });
  return { delivery, registry, ...captured };
}

const ev = (action: AlertEvent['action'], entity: string, severity: 'critical' | 'warning' = 'critical'): AlertEvent =>
  alertEvent(action, { entity, severity });

afterEach(() => {
  vi.useRealTimers();
});

describe('ordered, exactly-once delivery through failures', () => {
  it('retries server errors until sent; every event arrives once, in order', async () => {
    const n = new ScriptedNotifier('tg', [retry(), retry('timeout'), retry('connection')]);
    const { delivery, registry } = setup([n]);
    delivery.enqueue(ev('ALERT', 'a'));
    delivery.enqueue(ev('ALERT', 'b'));
    // Only once its ALERT went out: a pair still queued would cancel out.
    await waitFor('ALERT a delivered', () => n.delivered.length >= 1);
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

  it('a RECOVERY raised while its ALERT is in flight never overtakes it', async () => {
    const n = new ScriptedNotifier('tg', [retry(), 'hang']);
    const { delivery } = setup([n]);
    delivery.enqueue(ev('ALERT', 'x'));
    await waitFor('the second attempt in flight', () => n.calls.length >= 2);
    delivery.enqueue(ev('RECOVERY', 'x'));
    n.release();
    await delivery.flush(5_000);
    expect(n.delivered).toEqual(['ALERT proc_blocking:x', 'RECOVERY proc_blocking:x']);
  });

  it('a RECOVERY raised while its ALERT waits for a retry cancels both: the chat never gets a lone RECOVERY', async () => {
    const n = new ScriptedNotifier('tg', [retry(), retry()]);
    const { delivery } = setup([n], { backoffBaseMs: 60_000, backoffMaxMs: 60_000 });
    delivery.enqueue(ev('ALERT', 'x'));
    await waitFor('the first attempt', () => n.calls.length >= 1);
    delivery.enqueue(ev('RECOVERY', 'x'));
    await delivery.flush(5_000);
    expect(n.delivered).toEqual([]);
    expect(delivery.depths().get('tg')).toBe(0);
  });

  it('a server-given pause (429 retry_after) is waited out before the retry', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const n = new ScriptedNotifier('tg', [{ ok: false, retry: true, reason: 'rate_limited', afterS: 40 }]);
    const { delivery } = setup([n]);
    delivery.enqueue(ev('ALERT', 'a'));
    await vi.advanceTimersByTimeAsync(39_999);
    expect(n.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(n.delivered).toEqual(['ALERT proc_blocking:a']);
    expect(n.calls[1]!.atMs - n.calls[0]!.atMs).toBe(40_000);
  });

  it('a rejected event (4xx) is logged with its reason, counted, and does not block the next', async () => {
    const n = new ScriptedNotifier('tg', [
      { ok: false, retry: false, reason: 'client_error', detail: 'HTTP 400: Bad Request: chat not found' },
    ]);
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
    const detail =
      'HTTP 403 from http://hook:hookPassSecret@h/x?token=qSecret via /bot123456:AAHbotTokenSecretbotTokenSecret0123/sendMessage';
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
    delivery.enqueue(ev('ALERT', 'b'));
    expect(performance.now() - started).toBeLessThan(250);
    await waitFor('ok.delivered.length === 2', () => ok.delivered.length === 2);
    expect(hung.delivered).toEqual([]);
    hung.release();
    await delivery.flush(5_000);
    expect(hung.delivered).toEqual(['ALERT proc_blocking:a', 'ALERT proc_blocking:b']);
  });
});

describe('secrets', () => {
  it('every integration, the log one included, gets title and detail with secrets redacted', async () => {
    const n = new ScriptedNotifier('log');
    const { delivery } = setup([n]);
    delivery.enqueue(
      alertEvent('ALERT', { title: 'deploy --api-key=k3y', detail: 'pytest --password hunter2 https://bob:pw1@git.example/x' }),
    );
    await delivery.flush(5_000);
    const { title, detail } = n.events[0]!.signal;
    expect(`${title} ${detail}`).not.toMatch(/k3y|hunter2|pw1/);
    expect(detail).toContain('--password ***');
  });
});

describe('pacing', () => {
  it('leaves minIntervalMs between two sends of one integration', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const n = new ScriptedNotifier('tg', [], 1000);
    const { delivery } = setup([n]);
    for (const e of ['a', 'b']) delivery.enqueue(ev('ALERT', e));
    await vi.advanceTimersByTimeAsync(999);
    expect(n.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(n.calls.map((c) => c.atMs - n.calls[0]!.atMs)).toEqual([0, 1000]);
  });
});

describe('overflow: a bounded queue drops the lowest priority first, never silently', () => {
  it('REALERTs and warnings go before critical news; each drop is counted, logged and told in the next message', async () => {
    const n = new ScriptedNotifier('tg', ['hang']);
    const { delivery, registry, records } = setup([n], { capacity: 3 });
    delivery.enqueue(ev('ALERT', 'a')); // in flight
    await waitFor('n.calls.length === 1', () => n.calls.length === 1);
    delivery.enqueue(ev('REALERT', 'b'));
    delivery.enqueue(ev('ALERT', 'c', 'warning'));
    delivery.enqueue(ev('ALERT', 'd')); // full: REALERT b goes
    delivery.enqueue(ev('ALERT', 'e')); // full: the warning c goes, never the one in flight
    expect(delivery.depths().get('tg')).toBe(3);
    expect(await metricLines(registry, 'orch_watchdog_notification_queue_depth')).toEqual([
      'orch_watchdog_notification_queue_depth{integration="tg"} 3',
    ]);
    n.release();
    await delivery.flush(5_000);
    expect(n.delivered).toEqual(['ALERT proc_blocking:a', 'ALERT proc_blocking:d', 'ALERT proc_blocking:e']);
    expect(n.events.map((e) => e.droppedBefore)).toEqual([undefined, 2, undefined]);
    expect(await metricLines(registry, 'orch_watchdog_notifications_dropped_total')).toEqual([
      'orch_watchdog_notifications_dropped_total{integration="tg"} 2',
    ]);
    const drops = records().filter((r) => r.msg === 'notification dropped: queue full');
    expect(drops.map((r) => `${String(r.action)} ${String(r.key)}`)).toEqual(['REALERT proc_blocking:b', 'ALERT proc_blocking:c']);
  });

  it('the log integration is never capped', async () => {
    const n = Object.assign(new ScriptedNotifier('log', ['hang']), { isUnbounded: true });
    const { delivery } = setup([n], { capacity: 3 });
    delivery.enqueue(ev('ALERT', 'first'));
    await waitFor('the first send', () => n.calls.length === 1);
    for (let i = 0; i < 49; i++) delivery.enqueue(ev('ALERT', String(i)));
    expect(delivery.depths().get('log')).toBe(50);
    n.release();
    await delivery.flush(5_000);
    expect(n.delivered).toHaveLength(50);
  });
});

describe('priority: a critical alert is never delayed behind a flood', () => {
  it('a critical ALERT raised behind 500 warnings is the next one sent', async () => {
    const n = new ScriptedNotifier('tg', ['hang']);
    const { delivery } = setup([n]);
    delivery.enqueue(ev('ALERT', 'first', 'warning'));
    await waitFor('the first send', () => n.calls.length === 1);
    for (let i = 0; i < 500; i++) delivery.enqueue(ev('ALERT', `w${i}`, 'warning'));
    delivery.enqueue(alertEvent('ALERT', { family: 'orch_down', entity: null, severity: 'critical' }));
    n.release();
    await delivery.flush(10_000);
    expect(n.delivered.slice(0, 2)).toEqual(['ALERT proc_blocking:first', 'ALERT orch_down']);
    expect(n.delivered).toHaveLength(502);
  });

  it('one key keeps its order whatever the ranks: a critical REALERT never overtakes its warning ALERT', async () => {
    const n = new ScriptedNotifier('tg', ['hang']);
    const { delivery } = setup([n]);
    delivery.enqueue(ev('ALERT', 'x', 'warning'));
    await waitFor('the first send', () => n.calls.length === 1);
    delivery.enqueue(ev('RECOVERY', 'x', 'warning'));
    delivery.enqueue(ev('ALERT', 'x', 'critical'));
    n.release();
    await delivery.flush(5_000);
    expect(n.events.map((e) => `${e.action} ${e.signal.severity}`)).toEqual(['ALERT warning', 'RECOVERY warning', 'ALERT critical']);
  });
});

describe('coalescing: no lone RECOVERY, no stale reminder', () => {
  it('an ALERT/RECOVERY pair still queued cancels out; a pair whose ALERT went out does not', async () => {
    const n = new ScriptedNotifier('tg', ['hang']);
    const { delivery, registry } = setup([n]);
    delivery.enqueue(ev('ALERT', 'sent'));
    await waitFor('the first send', () => n.calls.length === 1);
    delivery.enqueue(ev('ALERT', 'brief'));
    delivery.enqueue(ev('RECOVERY', 'brief'));
    delivery.enqueue(ev('RECOVERY', 'sent'));
    n.release();
    await delivery.flush(5_000);
    expect(n.delivered).toEqual(['ALERT proc_blocking:sent', 'RECOVERY proc_blocking:sent']);
    expect(await metricLines(registry, 'orch_watchdog_notifications_coalesced_total')).toEqual([
      'orch_watchdog_notifications_coalesced_total{integration="tg"} 2',
    ]);
  });

  it('a REALERT refreshes the queued ALERT of its key instead of queueing a second message', async () => {
    const n = new ScriptedNotifier('tg', ['hang']);
    const { delivery } = setup([n]);
    delivery.enqueue(ev('ALERT', 'busy'));
    await waitFor('the first send', () => n.calls.length === 1);
    delivery.enqueue(ev('ALERT', 'y', 'warning'));
    delivery.enqueue(ev('REALERT', 'y', 'critical'));
    n.release();
    await delivery.flush(5_000);
    expect(n.events.slice(1).map((e) => `${e.action} ${e.signal.key} ${e.signal.severity}`)).toEqual(['ALERT proc_blocking:y critical']);
  });
});

describe('batching: a burst of one family goes as one send where the integration can', () => {
  it('hands the queued burst to notifyBatch, critical news first, and counts each event as sent', async () => {
    const batches: string[][] = [];
    const n = Object.assign(new ScriptedNotifier('tg', ['hang']), {
      batching: { key: (e: AlertEvent) => `${e.signal.family} ${e.action}`, min: 3, max: 1000 },
      async notifyBatch(events: readonly AlertEvent[]) {
        batches.push(events.map((e) => e.signal.key));
        return { ok: true as const };
      },
    });
    const { delivery, registry } = setup([n]);
    delivery.enqueue(alertEvent('ALERT', { family: 'host_mem', entity: null, severity: 'warning' }));
    await waitFor('the first send', () => n.calls.length === 1);
    for (let i = 0; i < 600; i++) delivery.enqueue(ev('ALERT', String(i), 'warning'));
    delivery.enqueue(alertEvent('ALERT', { family: 'orch_down', entity: null, severity: 'critical' }));
    n.release();
    await delivery.flush(5_000);
    expect(n.calls.map((c) => c.what)).toEqual(['ALERT host_mem', 'ALERT orch_down']);
    expect(batches).toHaveLength(1);
    expect(batches[0]).toHaveLength(600);
    expect(await metricLines(registry, 'orch_watchdog_notifications_sent_total')).toEqual([
      'orch_watchdog_notifications_sent_total{integration="tg",action="ALERT"} 602',
    ]);
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

  it('flush gives up after its timeout; close aborts the send and counts the rest as dropped', async () => {
    const n = new ScriptedNotifier('tg', ['hang', 'hang']);
    const { delivery, registry, records } = setup([n]);
    delivery.enqueue(ev('ALERT', 'a'));
    delivery.enqueue(ev('ALERT', 'b'));
    const started = performance.now();
    await delivery.flush(300);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(records().find((r) => r.msg === 'notifications still pending after flush')).toMatchObject({ integration: 'tg', pending: 2 });
    await delivery.close();
    expect(n.delivered).toEqual([]);
    expect(await metricLines(registry, 'orch_watchdog_notifications_dropped_total')).toEqual([
      'orch_watchdog_notifications_dropped_total{integration="tg"} 2',
    ]);
    delivery.enqueue(ev('ALERT', 'late'));
    expect(n.calls).toHaveLength(1);
  });
});
