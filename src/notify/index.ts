import type { Logger } from 'pino';
import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { AlertEvent } from '../watchdog/signal.js';
import { AlertmanagerNotifier } from './alertmanager.js';
import type { Notifier, NotifyResult } from './notifier.js';
import { TelegramNotifier } from './telegram.js';
import { WebhookNotifier } from './webhook.js';

/** The always-available integration: one structured log line per alert decision. */
class LogNotifier implements Notifier {
  readonly name = 'log';
  /** The log is the record of last resort: never capped, every event its own line. */
  readonly isUnbounded = true;

  constructor(private readonly log: Logger) {}

  async notify(event: AlertEvent): Promise<NotifyResult> {
    const { action, signal, host, droppedBefore } = event;
    const { key, family, entity, severity, title, detail } = signal;
    const fields = {
      alert: { action, key, family, entity, severity, title, detail, host },
      ...(droppedBefore ? { dropped_before: droppedBefore } : {}),
    };
    const line = `${action} ${key}: ${title}`;
    this.log[action === 'RECOVERY' ? 'info' : 'warn'](fields, line);
    return { ok: true };
  }
}

/** The integrations the resolved WATCHDOG_NOTIFIERS list names; one missing its URL/token is left out (config warns). */
export function buildNotifiers(config: Config, deps: { log: Logger; clock?: Clock }): Notifier[] {
  const notifiers: Notifier[] = [];
  const { locale, tgApiUrl: apiUrl, tgBotToken: token, tgChatId: chatId } = config;
  const timeoutMs = config.httpTimeoutS * 1000;
  const clock = deps.clock ?? systemClock;
  for (const name of config.notifiers) {
    if (name === 'log') notifiers.push(new LogNotifier(deps.log));
    if (name === 'telegram' && token !== '' && chatId !== '')
      notifiers.push(new TelegramNotifier({ apiUrl, token, chatId, locale, timeoutMs }));
    if (name === 'webhook' && config.webhookUrl !== '')
      notifiers.push(new WebhookNotifier({ url: config.webhookUrl, secret: config.webhookSecret, locale, timeoutMs, clock }));
    if (name !== 'alertmanager') continue;
    // One integration (own ordered queue) per peer, so a dead peer delays nothing for the others.
    for (const [i, url] of config.alertmanagerUrls.entries()) {
      const amName = config.alertmanagerUrls.length === 1 ? 'alertmanager' : `alertmanager-${i + 1}`;
      notifiers.push(new AlertmanagerNotifier({ url, name: amName, timeoutMs, clock }));
    }
  }
  return notifiers;
}
