import { t, type Locale } from '../i18n.js';
import { truncate } from '../redact.js';
import type { AlertAction, AlertEvent } from '../watchdog/alert-event.js';
import type { Severity } from '../watchdog/signal.js';

/** Telegram's sendMessage limit; we hold the raw HTML to it, which is stricter than the parsed text. */
export const TELEGRAM_MAX_CHARS = 4096;

// Caps on the escaped forms keep the fixed parts well under 4096, so the detail always has room.
const TITLE_MAX_CHARS = 1024;
const HOST_MAX_CHARS = 253;
const KEY_MAX_CHARS = 256;

const PREFIX: Record<AlertAction, string> = { ALERT: '🔴', REALERT: '🔁', RECOVERY: '🟢' };

/** "🔴 ALERT · critical": the first line of every message, single or grouped. */
export function headLine(action: AlertAction, severity: Severity, locale: Locale): string {
  const word = {
    ALERT: t(locale, { en: 'ALERT', ru: 'ТРЕВОГА' }),
    REALERT: t(locale, { en: 'STILL ACTIVE', ru: 'ВСЁ ЕЩЁ АКТИВНО' }),
    RECOVERY: t(locale, { en: 'RECOVERED', ru: 'ВОССТАНОВЛЕНО' }),
  }[action];
  const level =
    severity === 'critical' ? t(locale, { en: 'critical', ru: 'критично' }) : t(locale, { en: 'warning', ru: 'предупреждение' });
  return `${PREFIX[action]} ${word} · ${level}`;
}

/** Telegram's HTML mode needs exactly these three escaped in text. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The dynamic parts of an alert, title and host capped (delivery has redacted title and detail). */
export function alertFields(event: AlertEvent): { title: string; detail: string; host: string } {
  return {
    title: truncate(event.signal.title, TITLE_MAX_CHARS, escapeHtml),
    detail: event.signal.detail,
    host: truncate(event.host, HOST_MAX_CHARS, escapeHtml),
  };
}

export interface AlertText {
  /** For Telegram's parse_mode HTML: every dynamic part escaped. */
  html: string;
  /** The same message without markup (webhook `text`, Telegram's fallback). */
  plain: string;
}

/** Each variant at most `maxChars`; only the detail is shortened, so the markup stays whole. */
export function formatAlert(event: AlertEvent, locale: Locale, maxChars = TELEGRAM_MAX_CHARS): AlertText {
  const f = alertFields(event);
  const head = headLine(event.action, event.signal.severity, locale);
  const hostWord = t(locale, { en: 'host', ru: 'хост' });
  const key = truncate(event.signal.key, KEY_MAX_CHARS, escapeHtml);

  const build =
    (title: string, detail: string, footer: string): ((d: string) => string) =>
    (d) =>
      detail === '' ? `${head}\n${title}\n${footer}` : `${head}\n${title}\n${d}\n${footer}`;

  const htmlTitle = `<b>${escapeHtml(f.title)}</b>`;
  const htmlFooter = `${hostWord}: <code>${escapeHtml(f.host)}</code> · <code>${escapeHtml(key)}</code>`;
  const htmlOf = build(htmlTitle, f.detail, htmlFooter);
  const htmlRoom = maxChars - htmlOf('').length;
  const html = htmlOf(escapeHtml(truncate(f.detail, htmlRoom, escapeHtml)));

  const plainOf = build(f.title, f.detail, `${hostWord}: ${f.host} · ${key}`);
  const plain = plainOf(truncate(f.detail, maxChars - plainOf('').length));

  return { html, plain };
}
