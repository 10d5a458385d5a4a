import { describeHttpError, httpRequest, type HttpAnswer } from '../http.js';
import type { NotifyResult } from './notifier.js';

/** An integration's answer is kept up to this much: only its status, a JSON reply or an error's first line is read. */
const ANSWER_MAX_BYTES = 64 * 1024;

/** POST a JSON body: the peer's answer, or (`ok` in it) the transport error as a result. */
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
    return transportFailure(err);
  }
}

/** Retry-After as seconds (delta or HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Number(v);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - nowMs) / 1000);
}

/** A transport error: timeouts, refused/reset connections and aborts are worth retrying. */
export function transportFailure(err: unknown): NotifyResult {
  const detail = describeHttpError(err);
  const reason = detail === 'timeout' ? 'timeout' : detail === 'aborted' ? 'aborted' : 'connection';
  return { ok: false, retry: true, reason, detail };
}

/** 429 waits `afterS`, 408 and 5xx back off; other 4xx would fail the same way again. */
export function statusFailure(status: number, detail: string, afterS?: number): NotifyResult {
  if (status === 429) return { ok: false, retry: true, reason: 'rate_limited', detail, ...(afterS !== undefined ? { afterS } : {}) };
  if (status >= 500 || status === 408) return { ok: false, retry: true, reason: 'server_error', detail };
  if (status >= 300 && status < 400) return { ok: false, retry: false, reason: 'redirect', detail };
  return { ok: false, retry: false, reason: 'client_error', detail };
}

/** 2xx is delivered; any other status is judged by statusFailure, quoting the body's first line. */
export function judgeAnswer(answer: HttpAnswer, nowMs: number): NotifyResult {
  if (answer.status >= 200 && answer.status < 300) return { ok: true };
  const afterS = parseRetryAfter(answer.headers['retry-after'], nowMs);
  return statusFailure(answer.status, `HTTP ${answer.status}: ${bodySnippet(answer.text)}`, afterS);
}

/** The first line of an error body, short enough for a log field. */
export function bodySnippet(text: string, maxChars = 200): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > maxChars ? `${line.slice(0, maxChars)}…` : line;
}
