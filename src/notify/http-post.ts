import { describeHttpError } from '../http.js';
import { REDACTED } from '../redact.js';
import type { NotifyResult } from './notifier.js';

export interface PostAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The first `maxBytes` of the body; the rest is read and discarded so the socket is reused. */
  text: string;
}

export interface PostOptions {
  timeoutMs: number;
  signal: AbortSignal;
  headers?: Record<string, string>;
  maxBytes?: number;
}

/** A URL's `user:pass@` as the `Authorization: Basic` header, and the URL without it (for requests, logs and alerts). */
export interface UrlTarget {
  url: string;
  headers: Record<string, string>;
}

export function splitCredentials(raw: string): UrlTarget {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return { url: raw, headers: {} };
  }
  if (u.username === '' && u.password === '') return { url: raw, headers: {} };
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  return { url: u.toString(), headers: { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` } };
}

/** POST a JSON body with one overall deadline; throws only on transport errors (refused, timeout, abort). */
export async function postJson(url: string, body: string, opts: PostOptions): Promise<PostAnswer> {
  const maxBytes = opts.maxBytes ?? 64 * 1024;
  const signal = AbortSignal.any([AbortSignal.timeout(opts.timeoutMs), opts.signal]);
  // Loaded on first use: undici costs ~10 MB of RSS that the log-only default never needs.
  const { request } = await import('undici');
  const res = await request(url, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'user-agent': 'orch-watchdog', ...opts.headers },
    signal,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
  });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    if (size < maxBytes) chunks.push(chunk);
    size += chunk.length;
  }
  const text = Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
  return { status: res.statusCode, headers: res.headers, text };
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
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > maxChars ? `${line.slice(0, maxChars)}…` : line;
}

/** Replaces every occurrence of each secret by the one redaction marker, by value (a bot token sits in the URL path). */
export function scrubber(...secrets: string[]): (text: string) => string {
  const present = secrets.filter((s) => s.length > 0);
  return (text) => present.reduce((out, s) => out.split(s).join(REDACTED), text);
}
