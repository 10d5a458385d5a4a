import { createHash, createHmac } from 'node:crypto';
import type { Clock } from '../clock.js';
import { isoUtc } from '../clock.js';
import type { Locale } from '../i18n.js';
import { truncate } from '../redact.js';
import { alertFields, formatAlert } from './format.js';
import { judgeAnswer, postJson } from './http-post.js';
import type { Notifier, NotifyResult } from './notifier.js';
import type { AlertEvent } from '../watchdog/alert-event.js';

export const WEBHOOK_VERSION = 1;
export const SIGNATURE_HEADER = 'x-watchdog-signature';
export const DELIVERY_HEADER = 'x-watchdog-delivery';

const DETAIL_MAX_CHARS = 16_384;

export interface WebhookPayload {
  version: number;
  action: AlertEvent['action'];
  key: string;
  family: string;
  entity: string | null;
  severity: string;
  title: string;
  detail: string;
  text: string;
  sent_at: string;
  /** Present after the queue had to drop notifications: how many never went out. */
  dropped_before?: number;
}

export function webhookPayload(event: AlertEvent, locale: Locale, sentAtMs: number): WebhookPayload {
  const f = alertFields(event);
  const { signal } = event;
  return {
    version: WEBHOOK_VERSION,
    action: event.action,
    key: signal.key,
    family: signal.family,
    entity: signal.entity,
    severity: signal.severity,
    title: f.title,
    detail: truncate(f.detail, DETAIL_MAX_CHARS),
    text: formatAlert(event, locale).plain,
    sent_at: isoUtc(sentAtMs),
    ...(event.droppedBefore ? { dropped_before: event.droppedBefore } : {}),
  };
}

/** `sha256=<hex HMAC-SHA256 of the raw body>`, as GitHub signs its webhooks. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Same for every attempt of one event, so a receiver can drop the duplicate a lost answer causes. */
export function deliveryId(event: AlertEvent): string {
  return createHash('sha256').update(`${event.signal.key}\n${event.action}\n${event.at}`).digest('hex').slice(0, 32);
}

export interface WebhookOptions {
  url: string;
  secret: string;
  locale: Locale;
  timeoutMs: number;
  clock: Clock;
}

export class WebhookNotifier implements Notifier {
  readonly name = 'webhook';

  constructor(private readonly opts: WebhookOptions) {}

  async notify(event: AlertEvent, abortSignal: AbortSignal): Promise<NotifyResult> {
    const now = this.opts.clock();
    const body = JSON.stringify(webhookPayload(event, this.opts.locale, now));
    const headers: Record<string, string> = { [DELIVERY_HEADER]: deliveryId(event) };
    if (this.opts.secret !== '') headers[SIGNATURE_HEADER] = signBody(body, this.opts.secret);
    const answer = await postJson(this.opts.url, body, { timeoutMs: this.opts.timeoutMs, signal: abortSignal, headers });
    return 'ok' in answer ? answer : judgeAnswer(answer, now);
  }
}
