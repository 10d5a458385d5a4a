import { t, type Locale } from '../i18n.js';
import { truncate } from '../redact.js';
import type { AlertAction, AlertEvent } from '../watchdog/alert-event.js';
import type { Family } from '../watchdog/signal.js';
import { alertFields, escapeHtml, headLine, TELEGRAM_MAX_CHARS, type AlertText } from './format.js';

/** A grouped message lists this many members; the rest is a count. */
export const GROUP_LISTED = 20;
const LINE_MAX_CHARS = 160;

/** "612 test processes blocking", "3 dependencies down", … — what a burst of one family is. */
export function groupTitle(family: Family, action: AlertAction, count: number, locale: Locale): string {
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
  const hostName = alertFields(first).host;
  const build = (esc: (s: string) => string, bold: (s: string) => string, code: (s: string) => string): string => {
    const body = [head, bold(esc(title)), ...listed.map(esc), ...more, ...(note ? [note] : []), `${host}${code(esc(hostName))}`].join('\n');
    return truncate(body, maxChars);
  };
  return {
    html: build(
      escapeHtml,
      (s) => `<b>${s}</b>`,
      (s) => `<code>${s}</code>`,
    ),
    plain: build(
      (s) => s,
      (s) => s,
      (s) => s,
    ),
  };
}
