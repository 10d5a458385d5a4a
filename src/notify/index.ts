import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { LogNotifier } from './log.js';
import type { Notifier } from './notifier.js';

export interface NotifierDeps {
  log: Logger;
}

/** The integrations WATCHDOG_NOTIFIERS names; one missing its URL/token is left out (config warns). */
export function buildNotifiers(config: Config, deps: NotifierDeps): Notifier[] {
  const notifiers: Notifier[] = [];
  for (const name of config.notifiers) {
    switch (name) {
      case 'log':
        notifiers.push(new LogNotifier(deps.log));
        break;
      default:
        deps.log.warn({ integration: name }, 'notifier not available in this build; skipped');
    }
  }
  return notifiers;
}
