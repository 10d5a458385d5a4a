import { describeHttpError, httpRequest, type HttpAnswer } from '../http.js';
import type { AlertEvent } from '../watchdog/signal.js';

/** `reason`: a short metric-label code (`rate_limited`, `timeout`, …); `detail`: text for the log (the logger redacts it). */
export type NotifyResult =
  | { ok: true }
  | { ok: false; retry: true; reason: string; afterS?: number; detail?: string }
  | { ok: false; retry: false; reason: string; detail?: string };

export interface Batching {
  /** Events with the same key may travel in one send. */
  key(event: AlertEvent): string;
  /** Fewer than this go one by one. */
  min: number;
  max: number;
}

/** One small implementation per integration; retry, pacing, priority and queueing live in delivery. */
export interface Notifier {
  readonly name: string;
  /** Delivery leaves at least this long between two sends (Telegram: one message per second per chat). */
  readonly minIntervalMs?: number;
  /** Never capped: every event is kept however long the queue grows (the log). */
  readonly isUnbounded?: boolean;
  notify(event: AlertEvent, abortSignal: AbortSignal): Promise<NotifyResult>;
  /** Several queued events in one send (a grouped chat message, one Alertmanager POST); see `batching`. */
  notifyBatch?(events: readonly AlertEvent[], abortSignal: AbortSignal): Promise<NotifyResult>;
  readonly batching?: Batching;
  /** Periodic work delivery runs in the queue's own order (Alertmanager's re-send of what fires). */
  readonly resendEveryMs?: number;
  resend?(abortSignal: AbortSignal): Promise<NotifyResult>;
}

/** An integration's answer is kept up to this much: only its status, a JSON reply or an error's first line is read. */
const ANSWER_MAX_BYTES = 64 * 1024;

/** POST a JSON body: the peer's answer, or (`ok` in it) the transport error as a result; timeouts, refused/reset connections and aborts are worth retrying. */
export async function postJson(
  url: string,
  body: string,
  opts: { timeoutMs: number; signal: AbortSignal; headers?: Record<string, string> },
): Promise<HttpAnswer | NotifyResult> {
  try {
    return await httpRequest(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...opts.headers },
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      maxBytes: ANSWER_MAX_BYTES,
      oversize: 'cut',
    });
  } catch (err) {
    const detail = describeHttpError(err);
    const reason = detail === 'timeout' ? 'timeout' : detail === 'aborted' ? 'aborted' : 'connection';
    return { ok: false, retry: true, reason, detail };
  }
}

/** Retry-After as seconds (delta or HTTP date); undefined when absent or unreadable. */
function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Number(v);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - nowMs) / 1000);
}

/** 2xx is delivered; 429 waits (the peer's `afterS`, else Retry-After), 408 and 5xx back off; other 4xx would fail the same way again. */
export function judgeAnswer(answer: HttpAnswer, nowMs: number, said: { description?: string; afterS?: number } = {}): NotifyResult {
  const { status } = answer;
  if (status >= 200 && status < 300) return { ok: true };
  const detail = `HTTP ${status}: ${said.description ?? bodySnippet(answer.text)}`;
  const afterS = said.afterS ?? parseRetryAfter(answer.headers['retry-after'], nowMs);
  if (status === 429) return { ok: false, retry: true, reason: 'rate_limited', detail, ...(afterS !== undefined ? { afterS } : {}) };
  if (status >= 500 || status === 408) return { ok: false, retry: true, reason: 'server_error', detail };
  if (status >= 300 && status < 400) return { ok: false, retry: false, reason: 'redirect', detail };
  return { ok: false, retry: false, reason: 'client_error', detail };
}

/** The first line of an error body, short enough for a log field. */
export function bodySnippet(text: string): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
