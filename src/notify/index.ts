import type { Logger } from 'pino';
import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config.js';
import { AlertmanagerNotifier } from './alertmanager.js';
import { LogNotifier } from './log.js';
import type { Notifier } from './notifier.js';
import { TelegramNotifier } from './telegram.js';
import { WebhookNotifier } from './webhook.js';

export interface NotifierDeps {
  log: Logger;
  clock?: Clock;
}

/** The integrations the resolved WATCHDOG_NOTIFIERS list names; one missing its URL/token is left out (config warns). */
export function buildNotifiers(config: Config, deps: NotifierDeps): Notifier[] {
  const notifiers: Notifier[] = [];
  const timeoutMs = config.httpTimeoutS * 1000;
  const clock = deps.clock ?? systemClock;
  for (const name of config.notifiers) {
    switch (name) {
      case 'log':
        notifiers.push(new LogNotifier(deps.log));
        break;
      case 'telegram':
        if (config.tgBotToken !== '' && config.tgChatId !== '') {
          notifiers.push(
            new TelegramNotifier({
              apiUrl: config.tgApiUrl,
              token: config.tgBotToken,
              chatId: config.tgChatId,
              locale: config.locale,
              timeoutMs,
            }),
          );
        }
        break;
      case 'webhook':
        if (config.webhookUrl !== '') {
          notifiers.push(
            new WebhookNotifier({ url: config.webhookUrl, secret: config.webhookSecret, locale: config.locale, timeoutMs, clock }),
          );
        }
        break;
      case 'alertmanager':
        // One integration (own ordered queue) per peer, so a dead peer delays nothing for the others.
        for (const [i, url] of config.alertmanagerUrls.entries()) {
          const name = config.alertmanagerUrls.length === 1 ? 'alertmanager' : `alertmanager-${i + 1}`;
          notifiers.push(new AlertmanagerNotifier({ url, name, timeoutMs, clock }));
        }
        break;
    }
  }
  return notifiers;
}
