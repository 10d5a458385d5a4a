import { createHash, createHmac } from 'node:crypto';
import { isoUtc, type Clock } from '../clock.js';
import type { Locale } from '../i18n.js';
import { truncate } from '../redact.js';
import type { AlertEvent } from '../watchdog/signal.js';
import { alertFields, formatAlert } from './format.js';
import { judgeAnswer, postJson, type Notifier, type NotifyResult } from './notifier.js';

export const SIGNATURE_HEADER = 'x-watchdog-signature';
export const DELIVERY_HEADER = 'x-watchdog-delivery';

const DETAIL_MAX_CHARS = 16_384;

export type WebhookPayload = ReturnType<typeof webhookPayload>;

function webhookPayload(event: AlertEvent, locale: Locale, sentAtMs: number) {
  const f = alertFields(event);
  const { signal } = event;
  return {
    version: 1,
    action: event.action,
    key: signal.key,
    family: signal.family,
    entity: signal.entity,
    severity: signal.severity,
    title: f.title,
    detail: truncate(f.detail, DETAIL_MAX_CHARS),
    text: formatAlert(event, locale).plain,
    sent_at: isoUtc(sentAtMs),
    // Present after the queue had to drop notifications: how many never went out.
    ...(event.droppedBefore ? { dropped_before: event.droppedBefore } : {}),
  };
}

export class WebhookNotifier implements Notifier {
  readonly name = 'webhook';

  constructor(private readonly opts: { url: string; secret: string; locale: Locale; timeoutMs: number; clock: Clock }) {}

  async notify(event: AlertEvent, abortSignal: AbortSignal): Promise<NotifyResult> {
    const now = this.opts.clock();
    const body = JSON.stringify(webhookPayload(event, this.opts.locale, now));
    // The delivery id is the same for every attempt of one event, so a receiver can drop the duplicate a lost answer causes.
    const id = createHash('sha256').update(`${event.signal.key}\n${event.action}\n${event.at}`).digest('hex').slice(0, 32);
    const headers: Record<string, string> = { [DELIVERY_HEADER]: id };
    // `sha256=<hex HMAC-SHA256 of the raw body>`, as GitHub signs its webhooks.
    if (this.opts.secret !== '') headers[SIGNATURE_HEADER] = `sha256=${createHmac('sha256', this.opts.secret).update(body).digest('hex')}`;
    const answer = await postJson(this.opts.url, body, { timeoutMs: this.opts.timeoutMs, signal: abortSignal, headers });
    return 'ok' in answer ? answer : judgeAnswer(answer, now);
  }
}
