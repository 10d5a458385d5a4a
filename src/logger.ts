import pino, { type Logger } from 'pino';
import { boundForRedaction, REDACTED, redactSecrets } from './redact.js';

export type { Logger };

/** Request headers that carry credentials never reach a log line. */
export const REDACT_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', '*.token', '*.apiToken'];

/** Longer error texts are cut (at a blank) before redaction: a log line is no place for megabytes. */
const LOGGED_TEXT_MAX_CHARS = 8192;
/** Longer URLs never reach a route (414 first); the cut only guards other callers. */
const LOGGED_URL_MAX_CHARS = 2048;

const redactBounded = (text: string, maxChars: number): string => redactSecrets(boundForRedaction(text, maxChars));

/** Fastify's request fields, with secrets in the URL's query (`?token=…`) redacted. */
function serializeRequest(req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) {
  return {
    method: req.method,
    url: typeof req.url === 'string' ? redactBounded(req.url, LOGGED_URL_MAX_CHARS) : req.url,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** An error's message and stack may quote a URL or a command line: the same redaction as everything else. */
function serializeError(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as unknown;
  if (typeof out !== 'object' || out === null) return typeof out === 'string' ? redactBounded(out, LOGGED_TEXT_MAX_CHARS) : out;
  const o = out as Record<string, unknown>;
  return {
    ...o,
    ...(typeof o.message === 'string' ? { message: redactBounded(o.message, LOGGED_TEXT_MAX_CHARS) } : {}),
    ...(typeof o.stack === 'string' ? { stack: redactBounded(o.stack, LOGGED_TEXT_MAX_CHARS) } : {}),
  };
}

export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  const opts: pino.LoggerOptions = {
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { service: 'orch-watchdog' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: { req: serializeRequest, err: serializeError },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
