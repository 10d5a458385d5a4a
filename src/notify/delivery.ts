import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { redactSecrets } from '../redact.js';
import { DEFAULT_QUEUE_OPTIONS, IntegrationQueue, type QueueHooks, type QueueOptions } from './delivery-queue.js';
import { createNotifyMetrics, reasonLabel, type NotifyMetrics } from './metrics.js';
import type { Notifier } from './notifier.js';
import type { AlertEvent } from '../watchdog/alert-event.js';
import type { AlertOutlet } from '../watchdog/alert-sink.js';

/** What the app owns: the watchdog's outlet, whose queues can also be closed and inspected. */
export interface QueuedDelivery extends AlertOutlet {
  /** Stops every queue (what is left counts as dropped) and the integrations' own timers. */
  close(): Promise<void>;

  depths(): Map<string, number>;
  /** The undelivered events per integration (for the state file). */
  pending(): Record<string, AlertEvent[]>;
  /** Puts events a previous run left undelivered back into their integration's queue. */
  restore(pending: Record<string, AlertEvent[]>): void;
}

export interface DeliveryDeps {
  log: Logger;
  registry: Registry;
  /** Tests shorten backoff and capacity; production uses the defaults. */
  queue?: Partial<QueueOptions>;
}

function eventFields(integration: string, event: AlertEvent): Record<string, unknown> {
  return { integration, action: event.action, key: event.signal.key, family: event.signal.family };
}

function batchFields(integration: string, events: readonly AlertEvent[]): Record<string, unknown> {
  const [first] = events;
  if (events.length === 1 && first) return eventFields(integration, first);
  return { integration, batch: events.length, action: first?.action, family: first?.signal.family };
}

/** Metrics and log lines for one integration's queue; a failing re-send logs once per change. */
function queueHooks(integration: string, log: Logger, metrics: NotifyMetrics): QueueHooks {
  let isResendFailing = false;
  return {
    sent(event) {
      metrics.sent.inc({ integration, action: event.action });
      log.debug(eventFields(integration, event), 'notification delivered');
    },
    failed(events, failure, retryInMs, attempt) {
      metrics.failures.inc({ integration, reason: reasonLabel(failure.reason) });
      const fields = { ...batchFields(integration, events), reason: failure.reason, detail: failure.detail, attempt };
      if (retryInMs === null) log.error(fields, 'notification rejected; not retried');
      else log.warn({ ...fields, retry_in_s: retryInMs / 1000 }, 'notification failed; will retry');
    },
    dropped(event, why) {
      metrics.dropped.inc({ integration });
      log.error(
        { ...eventFields(integration, event), why },
        why === 'overflow' ? 'notification dropped: queue full' : 'notification dropped: not delivered before shutdown',
      );
    },
    coalesced(event) {
      metrics.coalesced.inc({ integration });
      log.debug(eventFields(integration, event), 'notification coalesced before sending');
    },
    crashed(events, err) {
      log.error({ ...batchFields(integration, events), err }, 'notifier threw (a bug); notification given up');
    },
    resent(result) {
      // One line per change, not per interval: a dead peer would otherwise log every minute.
      if (!result.ok && !isResendFailing)
        log.warn({ integration, reason: result.reason, detail: result.detail }, 're-send of active alerts failed');
      else if (result.ok && isResendFailing) log.info({ integration }, 're-send of active alerts works again');
      isResendFailing = !result.ok;
    },
  };
}

/** The edge where an alert's text leaves: redacted once, here, for every integration. */
function redacted(event: AlertEvent): AlertEvent {
  return { ...event, signal: { ...event.signal, title: redactSecrets(event.signal.title), detail: redactSecrets(event.signal.detail) } };
}

/** One queue per integration, so a failing one never delays the others and the tick never waits. */
export function createDelivery(notifiers: readonly Notifier[], deps: DeliveryDeps): QueuedDelivery {
  const { log } = deps;
  const opts: QueueOptions = { ...DEFAULT_QUEUE_OPTIONS, ...deps.queue };
  const queues: IntegrationQueue[] = [];
  const metrics = createNotifyMetrics(deps.registry, () => queues.map((q) => [q.notifier.name, q.depth]));

  for (const notifier of notifiers) queues.push(new IntegrationQueue(notifier, opts, queueHooks(notifier.name, log, metrics)));

  let isClosed = false;
  return {
    enqueue(event) {
      const safe = redacted(event);
      for (const q of queues) q.enqueue(safe);
    },
    async flush(timeoutMs) {
      for (const q of queues) q.retryNow();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
      const outcome = await Promise.race([Promise.all(queues.map((q) => q.idle())), timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        for (const q of queues) {
          if (q.depth > 0)
            log.warn(
              { integration: q.notifier.name, pending: q.depth, timeout_s: timeoutMs / 1000 },
              'notifications still pending after flush',
            );
        }
      }
    },
    async close() {
      if (isClosed) return;
      isClosed = true;
      await Promise.all(queues.map((q) => q.close()));
      await Promise.all(
        notifiers.map(async (n) => {
          try {
            await n.close?.();
          } catch (err) {
            log.error({ err, integration: n.name }, 'notifier close failed');
          }
        }),
      );
    },
    depths: () => new Map(queues.map((q) => [q.notifier.name, q.depth])),
    pending: () => Object.fromEntries(queues.map((q) => [q.notifier.name, q.pending()])),
    restore(pending) {
      for (const q of queues) for (const event of pending[q.notifier.name] ?? []) q.enqueue(redacted(event));
    },
  };
}
