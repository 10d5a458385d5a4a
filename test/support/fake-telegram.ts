import type { IncomingMessage, ServerResponse } from 'node:http';
import { startHttpServer } from './http-server.js';

/**
 * A loopback stand-in for the Telegram Bot API (Telegram itself cannot be reached from CI).
 * It speaks the real wire protocol of sendMessage: `{ok:true,result:Message}`,
 * `{ok:false,error_code,description,parameters:{retry_after}}`, 401 for a wrong token, and it
 * parses parse_mode HTML the way Telegram does, answering 400 "can't parse entities" for
 * markup Telegram would reject and "message is too long" beyond 4096 characters.
 */

export type Reply =
  | { kind: 'ok' }
  | { kind: 'status'; status: number; description: string }
  | { kind: 'retry_after'; seconds: number }
  | { kind: 'bad_gateway' }
  | { kind: 'slow'; delayMs: number };

export interface Received {
  atMs: number;
  chatId: unknown;
  text: string;
  parseMode: string | undefined;
  linkPreviewDisabled: boolean;
  /** What Telegram answered to this request. */
  status: number;
}

const TAGS = new Set(['b', 'strong', 'i', 'em', 'u', 'ins', 's', 'strike', 'del', 'code', 'pre', 'a', 'tg-spoiler', 'span', 'blockquote']);

/** Telegram's HTML parse: only supported tags, properly nested; `<`, `>`, `&` only as tags or named/numeric entities. Returns the visible text or an error. */
export function parseTelegramHtml(html: string): { text: string } | { error: string } {
  const stack: string[] = [];
  let text = '';
  let i = 0;
  while (i < html.length) {
    const ch = html[i]!;
    if (ch === '<') {
      const end = html.indexOf('>', i);
      if (end < 0) return { error: `Unclosed start tag at byte offset ${i}` };
      const m = /^<(\/?)([a-z-]+)(\s[^>]*)?>$/.exec(html.slice(i, end + 1));
      if (!m) return { error: `Unsupported start tag at byte offset ${i}` };
      const [, close, name] = m;
      if (!TAGS.has(name!)) return { error: `Unsupported start tag "${name}" at byte offset ${i}` };
      if (close) {
        if (stack.pop() !== name)
          return { error: `Unmatched end tag at byte offset ${i}, expected "</${stack.at(-1) ?? ''}>", found "</${name}>"` };
      } else stack.push(name!);
      i = end + 1;
    } else if (ch === '&') {
      const m = /^&(lt|gt|amp|quot|#\d+|#x[0-9a-f]+);/i.exec(html.slice(i, i + 12));
      if (!m) return { error: `Character entity expected at byte offset ${i}` };
      text += { lt: '<', gt: '>', amp: '&', quot: '"' }[m[1]!.toLowerCase()] ?? '?';
      i += m[0].length;
    } else if (ch === '>') {
      return { error: `Unexpected end tag at byte offset ${i}` };
    } else {
      text += ch;
      i += 1;
    }
  }
  if (stack.length > 0) return { error: `Can't find end tag corresponding to start tag "${stack.at(-1)}"` };
  return { text };
}

export interface FakeTelegram {
  /** Base URL to use as WATCHDOG_TG_API_URL. */
  url: string;
  token: string;
  /** Every sendMessage request, answered or not, in arrival order. */
  received: Received[];
  /** Only the messages Telegram accepted (what the chat shows). */
  delivered(): Received[];
  /** Answers for the next requests, in order; when empty, requests succeed. */
  script(...replies: Reply[]): void;
  /** Every request answers 502 until `outage(false)`. */
  outage(isDown: boolean): void;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function fail(res: ServerResponse, status: number, description: string, parameters?: object): void {
  answer(res, status, { ok: false, error_code: status, description, ...(parameters ? { parameters } : {}) });
}

export async function startFakeTelegram(token = '123456789:AAHfake-Token_for_tests_0123456789abcd'): Promise<FakeTelegram> {
  const replies: Reply[] = [];
  const received: Received[] = [];
  let isDown = false;
  let messageId = 0;
  const server = await startHttpServer(async (req, res) => {
    const raw = await readBody(req);
    const match = /^\/bot([^/]+)\/(\w+)$/.exec(req.url ?? '');
    if (!match) return fail(res, 404, 'Not Found');
    if (match[1] !== token) return fail(res, 401, 'Unauthorized');
    if (match[2] !== 'sendMessage') return fail(res, 404, 'Not Found: method not found');
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return fail(res, 400, 'Bad Request: invalid JSON');
    }
    const preview = body.link_preview_options as { is_disabled?: boolean } | undefined;
    const rec: Received = {
      atMs: Date.now(),
      chatId: body.chat_id,
      text: typeof body.text === 'string' ? body.text : '',
      parseMode: typeof body.parse_mode === 'string' ? body.parse_mode : undefined,
      linkPreviewDisabled: preview?.is_disabled === true || body.disable_web_page_preview === true,
      status: 0,
    };
    received.push(rec);
    const reply = isDown ? ({ kind: 'bad_gateway' } as const) : (replies.shift() ?? { kind: 'ok' });
    const respond = (status: number, send: () => void): void => {
      rec.status = status;
      send();
    };
    switch (reply.kind) {
      case 'bad_gateway':
        // What a proxy in front of the Bot API answers during an outage: HTML, not JSON.
        return respond(502, () => {
          res.writeHead(502, { 'content-type': 'text/html' });
          res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
        });
      case 'status':
        return respond(reply.status, () => fail(res, reply.status, reply.description));
      case 'retry_after':
        return respond(429, () => fail(res, 429, `Too Many Requests: retry after ${reply.seconds}`, { retry_after: reply.seconds }));
      case 'slow':
        // Like Telegram, the message still goes out even when the client gave up waiting.
        await new Promise((r) => setTimeout(r, reply.delayMs));
        break;
      case 'ok':
        break;
    }
    if (body.chat_id === undefined || body.chat_id === '') return respond(400, () => fail(res, 400, 'Bad Request: chat_id is empty'));
    let visible = rec.text;
    if (rec.parseMode === 'HTML') {
      const parsed = parseTelegramHtml(rec.text);
      if ('error' in parsed) return respond(400, () => fail(res, 400, `Bad Request: can't parse entities: ${parsed.error}`));
      visible = parsed.text;
    }
    if (visible.trim() === '') return respond(400, () => fail(res, 400, 'Bad Request: message text is empty'));
    if (visible.length > 4096) return respond(400, () => fail(res, 400, 'Bad Request: message is too long'));
    messageId += 1;
    respond(200, () =>
      answer(res, 200, {
        ok: true,
        result: { message_id: messageId, date: Math.floor(Date.now() / 1000), chat: { id: body.chat_id }, text: visible },
      }),
    );
  });

  return {
    url: server.url,
    token,
    received,
    delivered: () => received.filter((r) => r.status === 200),
    script: (...r) => replies.push(...r),
    outage: (down) => (isDown = down),
    close: () => server.close(),
  };
}
