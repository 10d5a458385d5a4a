import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TelegramNotifier } from '../../src/notify/telegram.js';
import { startFakeTelegram, type FakeTelegram } from '../support/fake-telegram.js';
import { refusedUrl } from '../support/http-server.js';
import { alertEvent } from '../support/alert-events.js';

let tg: FakeTelegram;
const never = new AbortController().signal;

function notifier(overrides: Partial<ConstructorParameters<typeof TelegramNotifier>[0]> = {}): TelegramNotifier {
  return new TelegramNotifier({ apiUrl: tg.url, token: tg.token, chatId: '-100123', locale: 'en', timeoutMs: 2_000, ...overrides });
}

beforeEach(async () => {
  tg = await startFakeTelegram();
});
afterEach(async () => {
  await tg.close();
});

describe('telegram sendMessage', () => {
  it('posts HTML to /bot<token>/sendMessage with link previews off', async () => {
    expect(await notifier().notify(alertEvent('ALERT'), never)).toEqual({ ok: true });
    expect(tg.delivered()).toHaveLength(1);
    const [msg] = tg.received;
    expect(msg).toMatchObject({ chatId: '-100123', parseMode: 'HTML', linkPreviewDisabled: true });
    expect(msg!.text).toContain('<b>pytest running for 2 h 14 min</b>');
  });

  it('paces to one message per second per chat by default', () => {
    expect(notifier().minIntervalMs).toBe(1000);
  });
});

describe('telegram answers that ask for a retry', () => {
  it('429 carries retry_after as afterS, so delivery waits what Telegram asked', async () => {
    tg.script({ kind: 'retry_after', seconds: 7 });
    expect(await notifier().notify(alertEvent('ALERT'), never)).toEqual({
      ok: false,
      retry: true,
      reason: 'rate_limited',
      afterS: 7,
      detail: 'HTTP 429: Too Many Requests: retry after 7',
    });
  });

  it('a 502 outage page is a retryable server error', async () => {
    tg.outage(true);
    expect(await notifier().notify(alertEvent('ALERT'), never)).toMatchObject({ ok: false, retry: true, reason: 'server_error' });
  });

  it('a slow answer times out after WATCHDOG_HTTP_TIMEOUT_S and is retried', async () => {
    tg.script({ kind: 'slow', delayMs: 1_500 });
    const started = Date.now();
    const result = await notifier({ timeoutMs: 300 }).notify(alertEvent('ALERT'), never);
    expect(result).toMatchObject({ ok: false, retry: true, reason: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1_200);
  });

  it('a refused connection is retried', async () => {
    const result = await notifier({ apiUrl: await refusedUrl() }).notify(alertEvent('ALERT'), never);
    expect(result).toMatchObject({ ok: false, retry: true, reason: 'connection', detail: 'connection refused' });
  });
});

describe('telegram answers that must not be retried', () => {
  it.each([
    [400, 'Bad Request: chat not found'],
    [401, 'Unauthorized'],
    [403, 'Forbidden: bot was blocked by the user'],
    [404, 'Not Found'],
  ])('%i is given up with Telegram description "%s"', async (status, description) => {
    tg.script({ kind: 'status', status, description });
    expect(await notifier().notify(alertEvent('ALERT'), never)).toEqual({
      ok: false,
      retry: false,
      reason: 'client_error',
      detail: `HTTP ${status}: ${description}`,
    });
    expect(tg.received).toHaveLength(1);
  });

  it('a wrong token is a 401 whose detail does not contain the token', async () => {
    const wrong = '987654321:ZZZwrong-token-value_abcdefghijklmnopq';
    const result = await notifier({ token: wrong }).notify(alertEvent('ALERT'), never);
    expect(result).toMatchObject({ ok: false, retry: false, reason: 'client_error' });
    expect(JSON.stringify(result)).not.toContain(wrong);
  });
});

describe("400 can't parse entities", () => {
  it('is retried once as plain text, which arrives', async () => {
    tg.script({
      kind: 'status',
      status: 400,
      description: 'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 3',
    });
    const event = alertEvent('ALERT', { title: 'a <x> b' });
    expect(await notifier().notify(event, never)).toEqual({ ok: true });
    expect(tg.received.map((r) => r.parseMode)).toEqual(['HTML', undefined]);
    expect(tg.delivered()[0]!.text).toContain('a <x> b');
  });

  it('only once: a second failure is given up, not looped', async () => {
    const cant = { kind: 'status', status: 400, description: "Bad Request: can't parse entities: x" } as const;
    tg.script(cant, cant, cant);
    expect(await notifier().notify(alertEvent('ALERT'), never)).toMatchObject({ ok: false, retry: false, reason: 'client_error' });
    expect(tg.received).toHaveLength(2);
  });
});
