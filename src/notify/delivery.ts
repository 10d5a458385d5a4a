import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AlertEvent, Notifier } from './notifier.js';

export interface Delivery {
  /** Never blocks and never throws: the tick hands events over and moves on. */
  enqueue(event: AlertEvent): void;
  /** Waits for pending deliveries, at most `timeoutMs` (shutdown). */
  flush(timeoutMs: number): Promise<void>;
}

export interface DeliveryDeps {
  log: Logger;
  registry: Registry;
}

/** Fan-out without queueing: each notifier is called on its own, failures are logged. */
export function createDelivery(notifiers: readonly Notifier[], deps: DeliveryDeps): Delivery {
  const pending = new Set<Promise<void>>();
  return {
    enqueue(event) {
      for (const notifier of notifiers) {
        const p = notifier
          .notify(event, new AbortController().signal)
          .then((result) => {
            if (!result.ok) deps.log.warn({ integration: notifier.name, key: event.signal.key, reason: result.reason }, 'notification failed');
          })
          .catch((err: unknown) => deps.log.error({ err, integration: notifier.name }, 'notifier threw'))
          .finally(() => pending.delete(p));
        pending.add(p);
      }
    },
    async flush(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([Promise.allSettled([...pending]), timeout]);
      clearTimeout(timer);
    },
  };
}
