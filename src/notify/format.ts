import { t, type Locale } from '../i18n.js';
import { truncate } from '../redact.js';
import type { AlertAction, AlertEvent, Family, Severity } from '../watchdog/signal.js';

/** Telegram's sendMessage limit; we hold the raw HTML to it, which is stricter than the parsed text. */
export const TELEGRAM_MAX_CHARS = 4096;

// Caps on the escaped forms keep the fixed parts well under 4096, so the detail always has room.
const TITLE_MAX_CHARS = 1024;
const HOST_MAX_CHARS = 253;
const KEY_MAX_CHARS = 256;
/** A grouped message lists this many members (each line capped); the rest is a count. */
const GROUP_LISTED = 20;
const LINE_MAX_CHARS = 160;

const PREFIX: Record<AlertAction, string> = { ALERT: '🔴', REALERT: '🔁', RECOVERY: '🟢' };

/** "🔴 ALERT · critical": the first line of every message, single or grouped. */
function headLine(action: AlertAction, severity: Severity, locale: Locale): string {
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

function markup(isHtml: boolean): { esc: (s: string) => string; b: (s: string) => string; code: (s: string) => string } {
  const tag = (name: string) => (s: string) => (isHtml ? `<${name}>${s}</${name}>` : s);
  return { esc: isHtml ? escapeHtml : (s) => s, b: tag('b'), code: tag('code') };
}

/** The dynamic parts of an alert, title and host capped (delivery has redacted title and detail). */
export function alertFields(event: AlertEvent): { title: string; detail: string; host: string } {
  return {
    title: truncate(event.signal.title, TITLE_MAX_CHARS, escapeHtml),
    detail: event.signal.detail,
    host: truncate(event.host, HOST_MAX_CHARS, escapeHtml),
  };
}

/** `html` for Telegram's parse_mode HTML (every dynamic part escaped); `plain` the same without markup (webhook `text`, fallback). */
export type AlertText = Record<'html' | 'plain', string>;

/** Each variant at most `maxChars`; only the detail is shortened, so the markup stays whole. */
export function formatAlert(event: AlertEvent, locale: Locale, maxChars = TELEGRAM_MAX_CHARS): AlertText {
  const f = alertFields(event);
  const head = headLine(event.action, event.signal.severity, locale);
  const hostWord = t(locale, { en: 'host', ru: 'хост' });
  const key = truncate(event.signal.key, KEY_MAX_CHARS, escapeHtml);
  const render = (isHtml: boolean): string => {
    const { esc, b, code } = markup(isHtml);
    const top = `${head}\n${b(esc(f.title))}\n`;
    const footer = `${hostWord}: ${code(esc(f.host))} · ${code(esc(key))}`;
    if (f.detail === '') return `${top}${footer}`;
    return `${top}${esc(truncate(f.detail, maxChars - top.length - footer.length - 1, esc))}\n${footer}`;
  };
  return { html: render(true), plain: render(false) };
}

/** "612 test processes blocking", "3 dependencies down", … — what a burst of one family is. */
function groupTitle(family: Family, action: AlertAction, count: number, locale: Locale): string {
  const state = {
    ALERT: t(locale, { en: '', ru: '' }),
    REALERT: t(locale, { en: 'still ', ru: 'всё ещё ' }),
    RECOVERY: t(locale, { en: 'no longer ', ru: 'больше не ' }),
  }[action];
  switch (family) {
    case 'proc_blocking':
      return t(locale, { en: `${count} test processes ${state}blocking`, ru: `${count} тестовых процессов ${state}блокируют` });
    case 'dep_down':
      return t(locale, { en: `${count} dependencies ${state}down`, ru: `${count} зависимостей ${state}недоступны` });
    default: {
      const en = { ALERT: 'alerts', REALERT: 'alerts still active', RECOVERY: 'alerts recovered' }[action];
      const ru = { ALERT: 'тревог', REALERT: 'тревог всё ещё активны', RECOVERY: 'тревог восстановлено' }[action];
      return t(locale, { en: `${count} ${family} ${en}`, ru: `${count} ${family}: ${ru}` });
    }
  }
}

/** The line a message gains after the queue had to drop some: drops are never silent. */
export function dropNote(event: AlertEvent, locale: Locale): string {
  const n = event.droppedBefore ?? 0;
  if (n === 0) return '';
  return t(locale, {
    en: `⚠ ${n} earlier notifications were dropped (queue full); see the watchdog log`,
    ru: `⚠ ${n} предыдущих уведомлений отброшено (очередь переполнена); см. журнал watchdog`,
  });
}

/** One message for a burst of one family and action: header, count, the first GROUP_LISTED titles, "… and N more"; fits Telegram. */
export function formatGroup(events: readonly AlertEvent[], locale: Locale, maxChars = TELEGRAM_MAX_CHARS): AlertText {
  const first = events[0]!;
  const head = headLine(first.action, events.some((e) => e.signal.severity === 'critical') ? 'critical' : 'warning', locale);
  const title = groupTitle(first.signal.family, first.action, events.length, locale);
  // Each line's escaped form is bounded, so 20 of them, head and footer stay under Telegram's limit.
  const listed = events.slice(0, GROUP_LISTED).map((e) => `• ${truncate(alertFields(e).title, LINE_MAX_CHARS, escapeHtml)}`);
  const rest = events.length - listed.length;
  const more = rest > 0 ? [t(locale, { en: `… and ${rest} more`, ru: `… и ещё ${rest}` })] : [];
  const host = `${t(locale, { en: 'host', ru: 'хост' })}: `;
  const note = dropNote(first, locale);
  const render = (isHtml: boolean): string => {
    const { esc, b, code } = markup(isHtml);
    const body = [
      head,
      b(esc(title)),
      ...listed.map(esc),
      ...more,
      ...(note ? [note] : []),
      `${host}${code(esc(alertFields(first).host))}`,
    ];
    return truncate(body.join('\n'), maxChars);
  };
  return { html: render(true), plain: render(false) };
}
