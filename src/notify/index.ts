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

/** The integrations WATCHDOG_NOTIFIERS names; one missing its URL/token is left out (config warns). */
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
          notifiers.push(new TelegramNotifier({ apiUrl: config.tgApiUrl, token: config.tgBotToken, chatId: config.tgChatId, locale: config.locale, timeoutMs }));
        }
        break;
      case 'webhook':
        if (config.webhookUrl !== '') {
          notifiers.push(new WebhookNotifier({ url: config.webhookUrl, secret: config.webhookSecret, locale: config.locale, timeoutMs, clock }));
        }
        break;
      case 'alertmanager':
        // the first peer until the notify side sends to every peer (WATCHDOG_ALERTMANAGER_URL lists them all)
        if (config.alertmanagerUrls[0] !== undefined) {
          notifiers.push(new AlertmanagerNotifier({ url: config.alertmanagerUrls[0], timeoutMs, clock, log: deps.log }));
        }
        break;
    }
  }
  return notifiers;
}
