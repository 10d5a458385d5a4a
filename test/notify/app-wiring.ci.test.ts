import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { testConfig } from '../support/app.js';
import { buildNotifiers } from '../../src/notify/index.js';
import { SIGNATURE_HEADER } from '../../src/notify/webhook.js';
import { type Collector, makeSignal } from '../../src/watchdog/signal.js';
import { startAlertmanager, type RunningAlertmanager } from '../support/alertmanager.js';
import { manualClock, testApp } from '../support/app.js';
import { startFakeTelegram, type FakeTelegram } from '../support/fake-telegram.js';
import { startHttpServer, type LoopbackServer } from '../support/http-server.js';
import { capturedLog } from '../support/notify.js';

let am: RunningAlertmanager;
let tg: FakeTelegram;
let hook: LoopbackServer;
let hookUrl: string;
const hookBodies: { body: Record<string, unknown>; isSigned: boolean }[] = [];

beforeAll(async () => {
  [am, tg] = await Promise.all([startAlertmanager(), startFakeTelegram()]);
  hook = await startHttpServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const expected = `sha256=${createHmac('sha256', 'hook-secret').update(raw).digest('hex')}`;
      hookBodies.push({ body: JSON.parse(raw) as Record<string, unknown>, isSigned: req.headers[SIGNATURE_HEADER] === expected });
      res.writeHead(204).end();
    });
  });
  hookUrl = `${hook.url}/hook`;
});
afterAll(async () => {
  await hook.close();
  await Promise.all([am?.stop(), tg?.close()]);
});

/** Every integration on, each against its peer here; the same log the server writes. */
const everyIntegration = (): Partial<Config> => ({
  notifiers: ['log', 'telegram', 'webhook', 'alertmanager'],
  tgApiUrl: tg.url,
  tgBotToken: tg.token,
  tgChatId: '-100777',
  webhookUrl: hookUrl,
  webhookSecret: 'hook-secret',
  alertmanagerUrls: [am.url],
});

/** A collector of one signal. */
const oneSignal = (signal: () => Parameters<typeof makeSignal>[0]): Collector => ({
  name: 'one',
  collect: async () => [makeSignal(signal())],
});

describe('WATCHDOG_NOTIFIERS wires every integration into the app', () => {
  it('one tick fans an ALERT out to log, Telegram, webhook and Alertmanager; the next resolves it everywhere', async () => {
    let isMemHigh = true;
    const mem = oneSignal(() => ({
      family: 'host_mem',
      entity: null,
      active: isMemHigh,
      severity: 'critical',
      title: 'memory 97 % used',
      detail: '31.0 of 32 GiB',
    }));
    const { log, records } = capturedLog();
    const app = await testApp(
      { ...everyIntegration(), locale: 'ru' },
      { collectors: [mem], clock: manualClock(Date.now()), log, hostname: 'wiring-host' },
    );

    await app.ctx.watchdog.tick();
    await app.ctx.delivery.flush(5_000);
    expect(tg.delivered().map((m) => m.text.split('\n')[0])).toEqual(['🔴 ТРЕВОГА · критично']);
    expect(hookBodies.map((h) => [h.body.action, h.body.key, h.isSigned])).toEqual([['ALERT', 'host_mem', true]]);
    expect((await am.alerts()).find((a) => a.labels.instance === 'wiring-host')?.labels).toEqual({
      alertname: 'host_mem',
      severity: 'critical',
      instance: 'wiring-host',
    });
    expect(records().some((r) => r.msg === 'ALERT host_mem: memory 97 % used')).toBe(true);

    isMemHigh = false;
    await app.ctx.watchdog.tick();
    await app.ctx.delivery.flush(5_000);
    expect(tg.delivered().map((m) => m.text.split('\n')[0])).toEqual(['🔴 ТРЕВОГА · критично', '🟢 ВОССТАНОВЛЕНО · критично']);
    expect(hookBodies.map((h) => h.body.action)).toEqual(['ALERT', 'RECOVERY']);
    expect((await am.alerts()).find((a) => a.labels.instance === 'wiring-host')).toBeUndefined();

    const metrics = (await app.inject('/metrics')).body;
    for (const integration of ['log', 'telegram', 'webhook', 'alertmanager']) {
      expect(metrics).toContain(`orch_watchdog_notifications_sent_total{integration="${integration}",action="RECOVERY"} 1`);
      expect(metrics).toContain(`orch_watchdog_notification_queue_depth{integration="${integration}"} 0`);
    }
    await app.close();
  });
});

// A source that forgot to redact (or a future one) must not be what keeps a secret in: delivery is the edge.
describe('a secret in an alert title or detail reaches no integration', () => {
  it('Telegram, the webhook, Alertmanager and the log get it redacted, through the assembled app', async () => {
    const leaky = oneSignal(() => ({
      family: 'dep_down',
      entity: 'leaky',
      active: true,
      severity: 'critical',
      title: 'deploy --api-key=TitleK3ySecret failed',
      detail: 'pytest --password DetailHunter2 https://bob:UrlPw1Secret@git.example/x DB_TOKEN=EnvTok3nSecret',
    }));
    const { log, lines } = capturedLog();
    const app = await testApp(everyIntegration(), { collectors: [leaky], log, hostname: 'leaky-host' });
    try {
      const hooksBefore = hookBodies.length;
      const tgBefore = tg.delivered().length;
      await app.ctx.watchdog.tick();
      await app.ctx.delivery.flush(5_000);
      const amAlert = (await am.alerts()).find((a) => a.labels.instance === 'leaky-host');
      const seen = {
        telegram: tg
          .delivered()
          .slice(tgBefore)
          .map((m) => m.text)
          .join('\n'),
        webhook: JSON.stringify(hookBodies.slice(hooksBefore).map((h) => h.body)),
        alertmanager: JSON.stringify(amAlert?.annotations),
        log: lines.join(''),
      };
      for (const [where, text] of Object.entries(seen)) {
        expect(text, where).toContain('--password ***');
        expect(text, where).not.toMatch(/TitleK3ySecret|DetailHunter2|UrlPw1Secret|EnvTok3nSecret/);
      }
    } finally {
      await app.close();
    }
  });
});

describe('an integration named but not configured', () => {
  it('is left out (config.ts already warned about the empty key)', () => {
    const { log } = capturedLog();
    const config = testConfig({ notifiers: ['log', 'telegram', 'webhook', 'alertmanager'], tgBotToken: '123:abc', tgChatId: '' });
    expect(buildNotifiers(config, { log }).map((n) => n.name)).toEqual(['log']);
  });
});
