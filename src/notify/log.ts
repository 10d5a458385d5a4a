import type { Logger } from 'pino';
import type { Notifier, NotifyResult } from './notifier.js';
import type { AlertEvent } from '../watchdog/alert-event.js';

/** The always-available integration: one structured log line per alert decision. */
export class LogNotifier implements Notifier {
  readonly name = 'log';
  /** The log is the record of last resort: never capped, every event its own line. */
  readonly isUnbounded = true;

  constructor(private readonly log: Logger) {}

  async notify(event: AlertEvent): Promise<NotifyResult> {
    const { signal } = event;
    const fields = {
      alert: {
        action: event.action,
        key: signal.key,
        family: signal.family,
        entity: signal.entity,
        severity: signal.severity,
        title: signal.title,
        detail: signal.detail,
        host: event.host,
      },
      ...(event.droppedBefore ? { dropped_before: event.droppedBefore } : {}),
    };
    const line = `${event.action} ${signal.key}: ${signal.title}`;
    if (event.action === 'RECOVERY') this.log.info(fields, line);
    else this.log.warn(fields, line);
    return { ok: true };
  }
}
