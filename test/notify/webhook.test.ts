import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DELIVERY_HEADER, SIGNATURE_HEADER, WebhookNotifier, type WebhookPayload } from '../../src/notify/webhook.js';
import { type Collector, makeSignal } from '../../src/watchdog/signal.js';
import { testApp } from '../support/app.js';
import { startHttpServer, type LoopbackServer } from '../support/http-server.js';
import { waitFor } from '../support/wait-for.js';
import { alertEvent } from '../support/alert-events.js';
import { capturedLog } from '../support/notify.js';

const SECRET = 'webhook-signing-secret-42';
const NOW = Date.UTC(2026, 0, 2, 3, 5, 0);
const never = new AbortController().signal;
const firing: Collector = {
  name: 'firing',
  collect: async () => [
    makeSignal({ family: 'host_mem', entity: null, active: true, severity: 'critical', title: 'memory', detail: '97 %' }),
  ],
};

interface Hit {
  headers: IncomingHttpHeaders;
  raw: string;
  isSignatureValid: boolean;
}

/** A receiver as an operator would write one: it verifies the HMAC of the raw body before trusting it. */
let server: LoopbackServer;
let url: string;
let hits: Hit[];
let answers: { status: number; headers?: Record<string, string> }[];

beforeEach(async () => {
  hits = [];
  answers = [];
  server = await startHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`);
      const given = Buffer.from(String(req.headers[SIGNATURE_HEADER] ?? ''));
      const isSignatureValid = given.length === expected.length && timingSafeEqual(given, expected);
      hits.push({ headers: req.headers, raw, isSignatureValid });
      const answer = answers.shift() ?? { status: isSignatureValid ? 204 : 401 };
      res.writeHead(answer.status, answer.headers);
      res.end(answer.status >= 400 ? 'nope: signature or payload rejected' : '');
    });
  });
  url = `${server.url}/hooks/watchdog`;
});
afterEach(async () => {
  await server.close();
});

function notifier(secret = SECRET): WebhookNotifier {
  return new WebhookNotifier({ url, secret, locale: 'en', timeoutMs: 2_000, clock: () => NOW });
}

describe('webhook payload', () => {
  it('posts the contract fields as JSON, signed with HMAC-SHA256 of the raw body', async () => {
    const event = alertEvent('RECOVERY', {
      family: 'dep_down',
      entity: 'redis',
      severity: 'warning',
      title: 'redis is back',
      detail: 'GET http://redis:8080/health answered 200',
    });
    expect(await notifier().notify(event, never)).toEqual({ ok: true });
    const [hit] = hits;
    expect(hit!.isSignatureValid).toBe(true);
    expect(hit!.headers['content-type']).toBe('application/json');
    const body = JSON.parse(hit!.raw) as WebhookPayload;
    expect(body).toEqual({
      version: 1,
      action: 'RECOVERY',
      key: 'dep_down:redis',
      family: 'dep_down',
      entity: 'redis',
      severity: 'warning',
      title: 'redis is back',
      detail: 'GET http://redis:8080/health answered 200',
      text: '🟢 RECOVERED · warning\nredis is back\nGET http://redis:8080/health answered 200\nhost: build-01 · dep_down:redis',
      sent_at: '2026-01-02T03:05:00.000Z',
    });
  });

  it('a receiver with the wrong secret rejects the body (the signature really covers it)', async () => {
    expect(await notifier('another-secret').notify(alertEvent('ALERT'), never)).toMatchObject({
      ok: false,
      retry: false,
      reason: 'client_error',
    });
    expect(hits[0]!.isSignatureValid).toBe(false);
  });

  it('without WATCHDOG_WEBHOOK_SECRET no signature header is sent', async () => {
    answers.push({ status: 200 });
    await notifier('').notify(alertEvent('ALERT'), never);
    expect(hits[0]!.headers[SIGNATURE_HEADER]).toBeUndefined();
  });

  it('every attempt of one event carries the same delivery id, so a receiver can drop duplicates', async () => {
    answers.push({ status: 503 });
    const event = alertEvent('ALERT');
    await notifier().notify(event, never);
    await notifier().notify(event, never);
    await notifier().notify(alertEvent('RECOVERY'), never);
    const ids = hits.map((h) => h.headers[DELIVERY_HEADER]);
    expect(ids[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(ids[1]).toBe(ids[0]);
    expect(ids[2]).not.toBe(ids[0]);
  });
});

describe('webhook retry rules (same as Telegram)', () => {
  it('503 is retried with backoff', async () => {
    answers.push({ status: 503 });
    expect(await notifier().notify(alertEvent('ALERT'), never)).toEqual({
      ok: false,
      retry: true,
      reason: 'server_error',
      detail: 'HTTP 503: nope: signature or payload rejected',
    });
  });

  it('429 with Retry-After waits the server-given seconds', async () => {
    answers.push({ status: 429, headers: { 'retry-after': '3' } });
    expect(await notifier().notify(alertEvent('ALERT'), never)).toMatchObject({
      ok: false,
      retry: true,
      reason: 'rate_limited',
      afterS: 3,
    });
  });

  it('a redirect is not followed and not retried (a webhook URL must be exact)', async () => {
    answers.push({ status: 301, headers: { location: 'http://elsewhere.invalid/' } });
    expect(await notifier().notify(alertEvent('ALERT'), never)).toMatchObject({ ok: false, retry: false, reason: 'redirect' });
  });

  it('the secret a receiver echoes back never reaches the log (the app registers it for redaction by value)', async () => {
    const echo = await startHttpServer((_req, res) => {
      res.writeHead(400);
      res.end(`bad secret ${SECRET}`);
    });
    const { log, lines } = capturedLog();
    const app = await testApp({ notifiers: ['webhook'], webhookUrl: `${echo.url}/`, webhookSecret: SECRET }, { log, collectors: [firing] });
    try {
      await app.ctx.watchdog.tick();
      await waitFor('a rejected send in the log', () => lines.some((l) => l.includes('notification rejected')));
    } finally {
      await app.close();
      await echo.close();
    }
    expect(lines.join('')).toContain('"detail":"HTTP 400: bad secret ***"');
    expect(lines.join('')).not.toContain(SECRET);
  });
});

// Incident guarded: an error page that never ends was read until the timeout, so a 500 became a
// 'timeout' and held the integration's queue for the whole WATCHDOG_HTTP_TIMEOUT_S.
describe('an answer body is bounded', () => {
  it('an endless 500 body is cut after its head: the 500 is judged at once, its first line quoted', async () => {
    const endless = await startHttpServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      const line = `${'x'.repeat(16 * 1024)}\n`;
      const pump = (): void => {
        while (!res.destroyed && res.write(line));
      };
      res.on('drain', pump);
      pump();
    });
    try {
      const started = Date.now();
      const n = new WebhookNotifier({ url: endless.url, secret: SECRET, locale: 'en', timeoutMs: 30_000, clock: () => NOW });
      const result = await n.notify(alertEvent('ALERT'), never);
      expect(result).toMatchObject({ ok: false, retry: true, reason: 'server_error', detail: `HTTP 500: ${'x'.repeat(200)}…` });
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      await endless.close();
    }
  }, 40_000);
});

describe('webhook URL credentials', () => {
  it('user:pass@ goes as Authorization: Basic, not in the request line, and never in a failure detail', async () => {
    answers.push({ status: 500 });
    const withAuth = url.replace('://', '://hookuser:hookPass%2F9@');
    const n = new WebhookNotifier({ url: withAuth, secret: SECRET, locale: 'en', timeoutMs: 2_000, clock: () => NOW });
    const result = await n.notify(alertEvent('ALERT'), never);
    expect(hits[0]!.headers.authorization).toBe(`Basic ${Buffer.from('hookuser:hookPass/9').toString('base64')}`);
    expect(JSON.stringify(result)).not.toMatch(/hookPass/);
  });
});
