import type * as Undici from 'undici';
import type { Readable } from 'node:stream';
import { redactSecrets } from './redact.js';

interface HttpOptions {
  method?: 'GET' | 'POST';
  body?: string;
  headers?: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Body bytes kept; default 4 MiB. */
  maxBytes?: number;
  /** `throw` (the body must be whole, e.g. a JSON envelope) or `cut` (keep the head, drop the rest). */
  oversize?: 'throw' | 'cut';
  dispatcher?: Undici.Dispatcher;
}

/** Read past `maxBytes` at most this much more, so a small overflow still lets the socket be reused. */
const DRAIN_LIMIT_BYTES = 64 * 1024;

/** A URL part decoded; a stray `%` (not an escape) is kept as typed, as a browser keeps it, instead of throwing URIError. */
export function decodeUrlPart(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The Basic credentials of a URL's `user:pass@` (the redactor hides exactly this value), or undefined without any. */
export function basicCredentials(u: URL): string | undefined {
  if (u.username === '' && u.password === '') return undefined;
  return Buffer.from(`${decodeUrlPart(u.username)}:${decodeUrlPart(u.password)}`).toString('base64');
}

/** `user:pass@` becomes `Authorization: Basic` (undici sends none of it); the URL sent, and every error quoting it, has none. */
export function splitUrlCredentials(url: string): { url: string; authorization?: string } {
  const u = URL.parse(url);
  const basic = u ? basicCredentials(u) : undefined;
  if (!u || basic === undefined) return { url };
  u.username = '';
  u.password = '';
  return { url: u.toString(), authorization: `Basic ${basic}` };
}

/** The configured timeout, cut to what is left before `deadline` (the collector's budget) less slack: the call fails as a call, counted. */
export function callTimeoutMs(timeoutMs: number, deadline?: number, nowMs: number = Date.now()): number {
  if (deadline === undefined) return timeoutMs;
  const leftMs = deadline - nowMs;
  const slackMs = Math.min(250, leftMs * 0.1);
  return Math.max(1, Math.min(timeoutMs, Math.floor(leftMs - slackMs)));
}

/** `signal` or a timeout; the timeout keeps a listener of its own, or AbortSignal.any may let it be collected unfired (Node 20). */
export function withTimeout(signal: AbortSignal, timeoutMs: number): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  timeout.addEventListener('abort', () => undefined, { once: true });
  return AbortSignal.any([signal, timeout]);
}

/** undici, loaded on first use: ~10 MB of RSS that a configuration without HTTP peers never needs. */
export function loadUndici(): Promise<typeof Undici> {
  return import('undici');
}

/** Every outbound HTTP call: one overall deadline, a body of at most `maxBytes`, redirects never followed; throws on transport errors. */
export async function httpRequest(url: string, opts: HttpOptions) {
  const { request } = await loadUndici();
  const target = splitUrlCredentials(url);
  const res = await request(target.url, {
    method: opts.method ?? 'GET',
    ...(opts.body !== undefined ? { body: opts.body } : {}),
    headers: {
      'user-agent': 'orch-watchdog',
      ...(target.authorization ? { authorization: target.authorization } : {}),
      ...opts.headers,
    },
    signal: opts.signal ? withTimeout(opts.signal, opts.timeoutMs) : AbortSignal.timeout(opts.timeoutMs),
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
  });
  const maxBytes = opts.maxBytes ?? 4 * 1024 * 1024;
  // dump() reads a little and then destroys the socket: an unread body would pin the connection
  if (maxBytes === 0) await res.body.dump({ limit: DRAIN_LIMIT_BYTES }).catch(() => undefined);
  const text = maxBytes === 0 ? '' : await readBody(res.body, maxBytes, opts.oversize ?? 'throw');
  return { status: res.statusCode, headers: res.headers, text };
}

export type HttpAnswer = Awaited<ReturnType<typeof httpRequest>>;

/** The first `maxBytes` of a body, never buffered past them: `throw` fails, `cut` drains a little more (socket reuse), then drops it. */
export async function readBody(body: Readable, maxBytes: number, oversize: 'throw' | 'cut'): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    const room = maxBytes - size;
    size += chunk.length;
    if (room > 0) chunks.push(room >= chunk.length ? chunk : chunk.subarray(0, room));
    if (size <= maxBytes) continue;
    if (oversize === 'throw') {
      body.destroy();
      throw new Error(`response body exceeds ${maxBytes} bytes`);
    }
    if (size > maxBytes + DRAIN_LIMIT_BYTES) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A short, operator-readable reason for a failed HTTP call (refused, timeout, DNS, …). */
export function describeHttpError(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? '';
  if (e.name === 'TimeoutError' || /^UND_ERR_(HEADERS|BODY|CONNECT)_TIMEOUT$/.test(code)) return 'timeout';
  if (e.name === 'AbortError') return 'aborted';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'DNS lookup failed';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  // any other message may quote the URL (user:pass@, ?token=): it reaches /signals and the log
  return redactSecrets(e.message ?? String(err));
}
