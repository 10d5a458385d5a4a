import { redactSecrets } from './redact.js';

export interface HttpText {
  status: number;
  text: string;
}

/**
 * GET with one overall deadline (connect + headers + body) and a bounded body, so a slow or
 * endless peer can neither stall a tick nor exhaust memory.
 */
export async function getText(url: string, opts: { timeoutMs: number; signal?: AbortSignal; maxBytes?: number }): Promise<HttpText> {
  const maxBytes = opts.maxBytes ?? 4 * 1024 * 1024;
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline;
  // Loaded on first use: undici costs ~10 MB of RSS that a configuration without HTTP peers never needs.
  const { request } = await import('undici');
  // undici's request() never follows redirects: a 3xx answer is returned as it is.
  const res = await request(url, { method: 'GET', signal, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      res.body.destroy();
      throw new Error(`response body exceeds ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return { status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') };
}

/** A short, operator-readable reason for a failed HTTP call (refused, timeout, DNS, …). */
export function describeHttpError(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code;
  if (e.name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  if (e.name === 'AbortError') return 'aborted';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'DNS lookup failed';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  // any other message may quote the URL (user:pass@, ?token=): it reaches /signals and the log
  return redactSecrets(e.message ?? String(err));
}
