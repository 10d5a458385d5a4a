import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testConfig } from '../support/app.js';
import { QueuedDelivery } from '../../src/notify/delivery.js';
import { buildNotifiers } from '../../src/notify/index.js';
import type { AlertEvent } from '../../src/watchdog/signal.js';
import { parseTelegramHtml, startFakeTelegram, type FakeTelegram } from '../support/fake-telegram.js';
import { alertEvent } from '../support/alert-events.js';
import { capturedLog, metricLines, Registry } from '../support/notify.js';
import { refusedUrl, startHttpServer, type LoopbackServer } from '../support/http-server.js';
import { waitFor } from '../support/wait-for.js';

const TOKEN = '7012345678:AAE-outage_test_token_abcdefghijklmnopqr';
const hugeCommandLine = `python -m pytest --token s3cr3t-value ${'tests/integration/test_merge_gate.py::test_requeue '.repeat(500)}`.slice(
  0,
  20_000,
);

let tg: FakeTelegram;
let delivery: QueuedDelivery | undefined;

beforeEach(async () => {
  tg = await startFakeTelegram(TOKEN);
});
afterEach(async () => {
  await delivery?.close();
  delivery = undefined;
  await tg.close();
});

function telegramDelivery(apiUrl: string, timeoutS = 2) {
  const captured = capturedLog();
  const registry = new Registry();
  const config = testConfig({
    notifiers: ['telegram'],
    tgApiUrl: apiUrl,
    tgBotToken: TOKEN,
    tgChatId: '-1001234567890',
    httpTimeoutS: timeoutS,
  });
  delivery = new QueuedDelivery(buildNotifiers(config, { log: captured.log }), {
    log: captured.log,
    registry,
    // Seconds, not minutes: the retry rules are the same, only the base is shorter.
    queue: { backoffBaseMs: 50, backoffMaxMs: 300 },
  });
  return { delivery, registry, ...captured };
}

describe('done when: a Telegram outage loses nothing', () => {
  it('ALERTs and RECOVERYs raised during a 502 outage arrive after it, in order, exactly once, 429 honoured, hostile texts well-formed', async () => {
    const { delivery, registry, lines } = telegramDelivery(tg.url);
    const before = alertEvent('ALERT', { entity: '404', title: '#0 before the outage' });
    const events: AlertEvent[] = [
      alertEvent('ALERT', { entity: '101', title: '#1 <script>alert(1)</script> & friends' }),
      alertEvent('ALERT', { entity: '202', title: '#2 huge command line', detail: hugeCommandLine }),
      alertEvent('RECOVERY', { entity: '404', title: '#3 recovered' }),
      alertEvent('REALERT', { entity: '505', title: '#4 still there' }),
    ];
    delivery.enqueue(before);
    await delivery.flush(5_000);

    tg.outage(true);
    delivery.enqueue(events[0]!);
    delivery.enqueue(events[1]!);
    await waitFor('tg.received.length >= 3', () => tg.received.length >= 3);
    delivery.enqueue(events[2]!);
    // A problem that began and ended inside the outage is never told, and never as a lone RECOVERY.
    delivery.enqueue(alertEvent('ALERT', { entity: '606', title: '#x brief' }));
    delivery.enqueue(alertEvent('RECOVERY', { entity: '606', title: '#x brief over' }));
    await waitFor('tg.received.length >= 4', () => tg.received.length >= 4);
    delivery.enqueue(events[3]!);
    // Telegram comes back rate-limiting: the first answer after the outage is a 429.
    tg.script({ kind: 'retry_after', seconds: 1 });
    tg.outage(false);
    await delivery.flush(20_000);

    const delivered = tg.delivered();
    expect(delivered.map((m) => /#[\dx]/.exec(m.text)?.[0])).toEqual(['#0', '#1', '#2', '#3', '#4']);
    expect(tg.received.filter((r) => r.status === 502).length).toBeGreaterThanOrEqual(3);

    const rateLimited = tg.received.findIndex((r) => r.status === 429);
    expect(tg.received.filter((r) => r.status === 429)).toHaveLength(1);
    expect(tg.received[rateLimited + 1]!.atMs - tg.received[rateLimited]!.atMs).toBeGreaterThanOrEqual(990);
    const gaps = delivered.slice(1).map((m, i) => m.atMs - delivered[i]!.atMs);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(990);

    for (const m of delivered) {
      expect(m.parseMode).toBe('HTML');
      expect(m.linkPreviewDisabled).toBe(true);
      expect(m.text.length).toBeLessThanOrEqual(4096);
      expect('error' in parseTelegramHtml(m.text)).toBe(false);
    }
    expect(delivered[1]!.text).toContain('#1 &lt;script&gt;alert(1)&lt;/script&gt; &amp; friends');
    expect(delivered[2]!.text.length).toBeGreaterThan(4000);
    expect(delivered[2]!.text).toContain('…\nhost: <code>build-01</code>');
    expect(delivered[2]!.text).not.toContain('s3cr3t-value');

    expect(await metricLines(registry, 'orch_watchdog_notifications_sent_total')).toEqual([
      'orch_watchdog_notifications_sent_total{integration="telegram",action="ALERT"} 3',
      'orch_watchdog_notifications_sent_total{integration="telegram",action="RECOVERY"} 1',
      'orch_watchdog_notifications_sent_total{integration="telegram",action="REALERT"} 1',
    ]);
    expect(await metricLines(registry, 'orch_watchdog_notification_failures_total{integration="telegram",reason="rate_limited"}')).toEqual([
      'orch_watchdog_notification_failures_total{integration="telegram",reason="rate_limited"} 1',
    ]);
    expect(await metricLines(registry, 'orch_watchdog_notifications_dropped_total{')).toEqual([]);

    const log = lines.join('');
    expect(log).toContain('"reason":"server_error"');
    expect(log).not.toContain(TOKEN);
    expect(log).not.toContain(TOKEN.split(':')[1]);
  }, 30_000);
});

describe('the bot token never reaches a log line', () => {
  let echo: LoopbackServer;
  beforeEach(async () => {
    // A misconfigured proxy that echoes the request path (with the token) in its error page.
    echo = await startHttpServer((req, res) => {
      res.writeHead(req.url?.includes('slow') ? 200 : 404, { 'content-type': 'text/plain' });
      if (!req.url?.includes('slow')) res.end(`no route for POST ${req.url} (token ${TOKEN})`);
    });
  });
  afterEach(async () => {
    await echo.close();
  });

  it('not when the peer echoes it, times out, or refuses the connection', async () => {
    const base = echo.url;
    const cases: [string, string][] = [
      [base, 'client_error'],
      [`${base}/slow`, 'timeout'],
      [await refusedUrl(), 'connection'],
    ];
    for (const [apiUrl, reason] of cases) {
      // Only the hung case gets the short timeout: a loaded CI host can take 200 ms to answer a 404.
      const { delivery, lines, records } = telegramDelivery(apiUrl, reason === 'timeout' ? 0.2 : 5);
      delivery.enqueue(alertEvent('ALERT'));
      await waitFor('a failure reason in the log', () => records().some((r) => typeof r.reason === 'string'));
      await delivery.close();
      const log = lines.join('');
      expect(log).toContain(`"reason":"${reason}"`);
      expect(log).not.toContain(TOKEN.split(':')[1]);
      // The echoing proxy really did put the token in its answer; the log hid it.
      if (reason === 'client_error') expect(log).toContain(`(token ${TOKEN.split(':')[0]}:***)`);
    }
  });
});
