import type { Locale } from '../i18n.js';
import type { AlertEvent } from '../watchdog/signal.js';
import { dropNote, formatAlert, formatGroup, TELEGRAM_MAX_CHARS, type AlertText } from './format.js';
import { bodySnippet, judgeAnswer, postJson, type Batching, type Notifier, type NotifyResult } from './notifier.js';

/** The Bot API's answer: `{ok:true,result}` or `{ok:false,error_code,description,parameters}`. */
interface BotAnswer {
  ok?: boolean;
  description?: string;
  parameters?: { retry_after?: number };
}

function parseAnswer(text: string): BotAnswer | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Bot API sendMessage with parse_mode HTML; a message Telegram cannot parse is re-sent once as plain text. */
export class TelegramNotifier implements Notifier {
  readonly name = 'telegram';
  readonly minIntervalMs = 1000;
  /** At one message a second a burst of one family would take minutes (and bury what follows): it goes as one message. */
  readonly batching: Batching = { key: (e) => `${e.signal.family}\n${e.action}`, min: 3, max: 100_000 };
  private readonly url: string;

  constructor(private readonly opts: { apiUrl: string; token: string; chatId: string; locale: Locale; timeoutMs: number }) {
    this.url = `${opts.apiUrl.replace(/\/+$/, '')}/bot${opts.token}/sendMessage`;
  }

  async notify(event: AlertEvent, abortSignal: AbortSignal): Promise<NotifyResult> {
    const note = dropNote(event, this.opts.locale);
    if (note === '') return this.sendText(formatAlert(event, this.opts.locale), abortSignal);
    const text = formatAlert(event, this.opts.locale, TELEGRAM_MAX_CHARS - note.length - 1);
    return this.sendText({ html: `${text.html}\n${note}`, plain: `${text.plain}\n${note}` }, abortSignal);
  }

  notifyBatch(events: readonly AlertEvent[], abortSignal: AbortSignal): Promise<NotifyResult> {
    return this.sendText(formatGroup(events, this.opts.locale), abortSignal);
  }

  private async sendText(text: AlertText, abortSignal: AbortSignal): Promise<NotifyResult> {
    const result = await this.send({ text: text.html, parse_mode: 'HTML' }, abortSignal);
    // A 400 "can't parse entities": Telegram could not parse our HTML, so once more as plain text.
    if (result.ok || !/^HTTP 400: .*can't parse entities/is.test(result.detail ?? '')) return result;
    return this.send({ text: text.plain }, abortSignal);
  }

  private async send(message: { text: string; parse_mode?: 'HTML' }, abortSignal: AbortSignal): Promise<NotifyResult> {
    const body = JSON.stringify({ chat_id: this.opts.chatId, ...message, link_preview_options: { is_disabled: true } });
    const answer = await postJson(this.url, body, { timeoutMs: this.opts.timeoutMs, signal: abortSignal });
    if ('ok' in answer) return answer;
    const bot = parseAnswer(answer.text);
    if (answer.status >= 200 && answer.status < 300 && bot?.ok !== true) {
      const detail = `HTTP ${answer.status} without {"ok":true}: ${bodySnippet(answer.text)}`;
      return { ok: false, retry: false, reason: 'bad_response', detail };
    }
    return judgeAnswer(answer, Date.now(), { description: bot?.description, afterS: bot?.parameters?.retry_after });
  }
}
