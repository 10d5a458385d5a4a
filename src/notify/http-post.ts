import { describeHttpError, httpRequest, type HttpAnswer } from '../http.js';
import { REDACTED, truncate } from '../redact.js';
import type { NotifyResult } from './notifier.js';

/** The first `maxBytes` of the body in `text`; a short rest is drained so the socket is reused. */
export type PostAnswer = HttpAnswer;

export interface PostOptions {
  timeoutMs: number;
  signal: AbortSignal;
  headers?: Record<string, string>;
  maxBytes?: number;
}

/** POST a JSON body with one overall deadline; throws only on transport errors (refused, timeout, abort). */
export async function postJson(url: string, body: string, opts: PostOptions): Promise<PostAnswer> {
  const headers = { 'content-type': 'application/json', ...opts.headers };
  return httpRequest(url, { method: 'POST', body, headers, timeoutMs: opts.timeoutMs, signal: opts.signal, maxBytes: opts.maxBytes ?? 64 * 1024, oversize: 'cut' });
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
export function transportFailure(err: unknown, scrub: (s: string) => string = (s) => s): NotifyResult {
  const detail = scrub(describeHttpError(err));
  const reason = detail === 'timeout' ? 'timeout' : detail === 'aborted' ? 'aborted' : 'connection';
  return { ok: false, retry: true, reason, detail };
}

/**
 * The retry rules every HTTP integration shares: 429 waits `afterS`, 408 and 5xx back off,
 * other 4xx are the request's own fault and a retry would fail the same way.
 */
export function statusFailure(status: number, detail: string, afterS?: number): NotifyResult {
  if (status === 429) return { ok: false, retry: true, reason: 'rate_limited', detail, ...(afterS !== undefined ? { afterS } : {}) };
  if (status >= 500 || status === 408) return { ok: false, retry: true, reason: 'server_error', detail };
  if (status >= 300 && status < 400) return { ok: false, retry: false, reason: 'redirect', detail };
  return { ok: false, retry: false, reason: 'client_error', detail };
}

/** The first line of an error body, short enough for a log field. */
export function bodySnippet(text: string, maxChars = 200): string {
  return truncate(text.trim().split('\n')[0] ?? '', maxChars + 1);
}

/** Replaces every occurrence of each secret by the one redaction marker, by value (a bot token sits in the URL path). */
export function scrubber(...secrets: string[]): (text: string) => string {
  const present = secrets.filter((s) => s.length > 0);
  return (text) => present.reduce((out, s) => out.split(s).join(REDACTED), text);
}
