import { describe, expect, it } from 'vitest';
import { formatAlert, TELEGRAM_MAX_CHARS } from '../../src/notify/format.js';
import { parseTelegramHtml } from '../support/fake-telegram.js';
import { alertEvent } from '../support/alert-events.js';

const hugeCommandLine = `python -m pytest ${'tests/test_pipeline.py::test_case_with_a_long_name '.repeat(400)}`.slice(0, 20_000);

describe('alert text: prefix, title, detail and host in the configured language', () => {
  it('an ALERT reads 🔴 with title, detail, host and key in English', () => {
    const { html, plain } = formatAlert(alertEvent('ALERT'), 'en');
    expect(html.split('\n')).toEqual([
      '🔴 ALERT · critical',
      '<b>pytest running for 2 h 14 min</b>',
      'pid 4242: python -m pytest tests/',
      'host: <code>build-01</code> · <code>proc_blocking:4242</code>',
    ]);
    expect(plain.split('\n')).toEqual([
      '🔴 ALERT · critical',
      'pytest running for 2 h 14 min',
      'pid 4242: python -m pytest tests/',
      'host: build-01 · proc_blocking:4242',
    ]);
  });

  it('a REALERT starts with 🔁 and a RECOVERY with 🟢, in Russian when WATCHDOG_LOCALE=ru', () => {
    expect(formatAlert(alertEvent('REALERT'), 'ru').plain.split('\n')[0]).toBe('🔁 ВСЁ ЕЩЁ АКТИВНО · критично');
    const recovery = formatAlert(alertEvent('RECOVERY', { severity: 'warning' }), 'ru').plain.split('\n');
    expect(recovery[0]).toBe('🟢 ВОССТАНОВЛЕНО · предупреждение');
    expect(recovery.at(-1)).toBe('хост: build-01 · proc_blocking:4242');
  });

  it('an empty detail leaves no blank line', () => {
    expect(formatAlert(alertEvent('ALERT', { detail: '' }), 'en').plain.split('\n')).toHaveLength(3);
  });
});

describe('hostile and huge texts stay well-formed HTML for Telegram', () => {
  it('<script> and & in title, detail and host are escaped, so Telegram parses the message', () => {
    const event = alertEvent('ALERT', { title: '<script>alert(1)</script> & co', detail: 'a <b>b</b> c>d &amp;' });
    event.host = '<host>';
    const { html } = formatAlert(event, 'en');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; co');
    expect(html).toContain('a &lt;b&gt;b&lt;/b&gt; c&gt;d &amp;amp;');
    const parsed = parseTelegramHtml(html);
    expect(parsed).toEqual({ text: expect.stringContaining('<script>alert(1)</script> & co') });
  });

  it('a 20,000-character command line is shortened to at most 4096 characters, tags balanced', () => {
    const { html, plain } = formatAlert(alertEvent('ALERT', { detail: hugeCommandLine }), 'en');
    expect(html.length).toBeLessThanOrEqual(TELEGRAM_MAX_CHARS);
    expect(html.length).toBeGreaterThan(TELEGRAM_MAX_CHARS - 10);
    expect(plain.length).toBeLessThanOrEqual(TELEGRAM_MAX_CHARS);
    expect('error' in parseTelegramHtml(html)).toBe(false);
    expect(html).toContain('…\nhost: <code>build-01</code>');
  });

  it('shortening never cuts an escape in half, even when the detail is all "<"', () => {
    const { html } = formatAlert(alertEvent('ALERT', { detail: '<'.repeat(20_000) }), 'en');
    expect(html.length).toBeLessThanOrEqual(TELEGRAM_MAX_CHARS);
    expect(html).toMatch(/(&lt;)+…\n/);
    expect('error' in parseTelegramHtml(html)).toBe(false);
  });

  it('a huge title and host are capped too, so the detail and footer still fit', () => {
    const event = alertEvent('ALERT', { title: '&'.repeat(10_000), detail: 'x'.repeat(10_000) });
    event.host = 'h'.repeat(1_000);
    const { html } = formatAlert(event, 'en');
    expect(html.length).toBeLessThanOrEqual(TELEGRAM_MAX_CHARS);
    expect('error' in parseTelegramHtml(html)).toBe(false);
    expect(html).toContain('<code>proc_blocking:4242</code>');
  });
});

describe('a burst of one family as one grouped message', () => {
  it('"612 test processes blocking", the first 20 titles, the rest counted, within Telegram\'s limit and well-formed', async () => {
    const { formatGroup } = await import('../../src/notify/format.js');
    const events = Array.from({ length: 612 }, (_, i) =>
      alertEvent('ALERT', {
        entity: String(1000 + i),
        severity: 'warning',
        title: `pytest <pid ${1000 + i}> running for ${'x'.repeat(300)}`,
      }),
    );
    const { html, plain } = formatGroup(events, 'en');
    const lines = plain.split('\n');
    expect(lines[0]).toBe('🔴 ALERT · warning');
    expect(lines[1]).toBe('612 test processes blocking');
    expect(lines.filter((l) => l.startsWith('• '))).toHaveLength(20);
    expect(plain).toContain('… and 592 more');
    expect(html.length).toBeLessThanOrEqual(TELEGRAM_MAX_CHARS);
    expect('error' in parseTelegramHtml(html)).toBe(false);
    expect(formatGroup([{ ...events[0]!, droppedBefore: 7 }, ...events.slice(1, 3)], 'ru').plain).toContain(
      '⚠ 7 предыдущих уведомлений отброшено',
    );
  });
});
