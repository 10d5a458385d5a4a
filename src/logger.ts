import pino, { type Logger } from 'pino';
import { boundForRedaction, REDACTED, redactSecrets } from './redact.js';

/** Request headers that carry credentials never reach a log line. */
const REDACT_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', '*.token', '*.apiToken'];

/** Longer texts are cut (at a blank) before redaction: a log line is no place for megabytes. */
const LOGGED_TEXT_MAX_CHARS = 8192;
const redactBounded = (text: string, maxChars = LOGGED_TEXT_MAX_CHARS): string => redactSecrets(boundForRedaction(text, maxChars));

/** Fastify's request fields, with secrets in the URL's query (`?token=…`) redacted. */
function serializeRequest(req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) {
  return {
    method: req.method,
    url: typeof req.url === 'string' ? redactBounded(req.url, 2048) : req.url,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/** Every string in a log object (plain objects and arrays, two levels deep) redacted and bounded. */
function redactFields(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactBounded(value);
  if (depth === 0) return value;
  if (Array.isArray(value)) return value.map((v) => redactFields(v, depth - 1));
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactFields(v, depth - 1)]));
}

/** An error's fields (message, stack, causes, a library's own) may quote a URL, a command line or a peer's answer. */
function serializeError(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as unknown;
  if (typeof out !== 'object' || out === null) return redactFields(out, 0);
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, redactFields(v, k === 'aggregateErrors' ? 3 : 2)]));
}

export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  const opts: pino.LoggerOptions = {
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { service: 'orch-watchdog' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: { req: serializeRequest, err: serializeError },
    // the last gate for every other field: a peer's answer or a URL quoted in a warning
    formatters: { log: (obj) => redactFields(obj, 3) as Record<string, unknown> },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
