import pino, { type Logger } from 'pino';

export type { Logger };

/** Request headers that carry credentials never reach a log line. */
export const REDACT_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', '*.token', '*.apiToken'];

export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  const opts: pino.LoggerOptions = {
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { service: 'orch-watchdog' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '<redacted>' },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
