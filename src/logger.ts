import pino, { type Logger } from 'pino';
import { REDACTED, redactSecrets } from './redact.js';

export type { Logger };

/** Request headers that carry credentials never reach a log line. */
export const REDACT_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', '*.token', '*.apiToken'];

/** Fastify's request fields, with secrets in the URL's query (`?token=…`) redacted. */
function serializeRequest(req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) {
  return {
    method: req.method,
    url: typeof req.url === 'string' ? redactSecrets(req.url) : req.url,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** An error's message and stack may quote a URL or a command line: the same redaction as everything else. */
function serializeError(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as unknown;
  if (typeof out !== 'object' || out === null) return typeof out === 'string' ? redactSecrets(out) : out;
  const o = out as Record<string, unknown>;
  return {
    ...o,
    ...(typeof o.message === 'string' ? { message: redactSecrets(o.message) } : {}),
    ...(typeof o.stack === 'string' ? { stack: redactSecrets(o.stack) } : {}),
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
