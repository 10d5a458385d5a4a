import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../metrics.js';
import { redactSecrets } from '../redact.js';
import type { StateSection } from '../state/state-store.js';
import { alertEventSchema, DropLog, isObject } from '../watchdog/restore-entries.js';
import type { AlertEvent } from '../watchdog/signal.js';
import type { AlertOutlet } from '../watchdog/tick.js';
import { DEFAULT_QUEUE_OPTIONS, IntegrationQueue, type QueueHooks, type QueueOptions } from './delivery-queue.js';
import type { Notifier } from './notifier.js';

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

/** The delivery counters on the app's registry; queue depth is read at scrape time. */
function createNotifyMetrics(registry: Registry, queueDepths: () => Iterable<[integration: string, depth: number]>) {
  const registers = [registry];
  new Gauge({
    name: `${METRIC_PREFIX}notification_queue_depth`,
    help: 'Notifications waiting (or being retried) per integration.',
    labelNames: ['integration'],
    registers,
    collect() {
      for (const [integration, depth] of queueDepths()) this.set({ integration }, depth);
    },
  });
  const counter = <L extends string = never>(name: string, help: string, ...labels: L[]) =>
    new Counter<'integration' | L>({ name: `${METRIC_PREFIX}${name}`, help, labelNames: ['integration', ...labels], registers });
  return {
    sent: counter('notifications_sent_total', 'Notifications the integration accepted, by integration and action.', 'action'),
    failures: counter('notification_failures_total', 'Failed send attempts (retried or given up), by integration and reason.', 'reason'),
    dropped: counter('notifications_dropped_total', 'Notifications never delivered: dropped on queue overflow or left over at shutdown.'),
    coalesced: counter(
      'notifications_coalesced_total',
      'Queued notifications left unsent because a later one made them moot (an ALERT/RECOVERY pair, a superseded reminder).',
    ),
  };
}

/** Log fields of a send: one event by its key, a batch by its size. */
function logFields(integration: string, events: readonly AlertEvent[]): Record<string, unknown> {
  const [first] = events;
  if (events.length === 1 && first) return { integration, action: first.action, key: first.signal.key, family: first.signal.family };
  return { integration, batch: events.length, action: first?.action, family: first?.signal.family };
}

/** Metrics and log lines for one integration's queue; a failing re-send logs once per change. */
function queueHooks(integration: string, log: Logger, metrics: ReturnType<typeof createNotifyMetrics>): QueueHooks {
  let isResendFailing = false;
  return {
    sent(event) {
      metrics.sent.inc({ integration, action: event.action });
      log.debug(logFields(integration, [event]), 'notification delivered');
    },
    failed(events, failure, retryInMs, attempt) {
      // Reasons become label values: anything but a short snake_case code collapses to "other".
      const reason = /^[a-z][a-z0-9_]{0,31}$/.test(failure.reason) ? failure.reason : 'other';
      metrics.failures.inc({ integration, reason });
      const fields = { ...logFields(integration, events), reason: failure.reason, detail: failure.detail, attempt };
      if (retryInMs === null) log.error(fields, 'notification rejected; not retried');
      else log.warn({ ...fields, retry_in_s: retryInMs / 1000 }, 'notification failed; will retry');
    },
    dropped(event, why) {
      metrics.dropped.inc({ integration });
      log.error(
        { ...logFields(integration, [event]), why },
        why === 'overflow' ? 'notification dropped: queue full' : 'notification dropped: not delivered before shutdown',
      );
    },
    coalesced(event) {
      metrics.coalesced.inc({ integration });
      log.debug(logFields(integration, [event]), 'notification coalesced before sending');
    },
    crashed(events, err) {
      log.error({ ...logFields(integration, events), err }, 'notifier threw (a bug); notification given up');
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

/** One queue per integration, so a failing one never delays the others and the tick never waits; tests shorten `queue`. */
export function createDelivery(
  notifiers: readonly Notifier[],
  deps: { log: Logger; registry: Registry; queue?: Partial<QueueOptions> },
): QueuedDelivery {
  const { log } = deps;
  const opts: QueueOptions = { ...DEFAULT_QUEUE_OPTIONS, ...deps.queue };
  const metrics = createNotifyMetrics(deps.registry, () => queues.map((q) => [q.notifier.name, q.depth]));
  const queues = notifiers.map((n) => new IntegrationQueue(n, opts, queueHooks(n.name, log, metrics)));
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
      for (const q of outcome === 'timeout' ? queues.filter((q) => q.depth > 0) : []) {
        log.warn(
          { integration: q.notifier.name, pending: q.depth, timeout_s: timeoutMs / 1000 },
          'notifications still pending after flush',
        );
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

/** Undelivered alerts per integration: after a restart they are delivered, not lost. */
export function deliverySection(delivery: QueuedDelivery, log: Logger): StateSection {
  return {
    name: 'undelivered',
    snapshot: () => delivery.pending(),
    restore(data) {
      if (!isObject(data)) throw new Error('undelivered: expected an object');
      const drops = new DropLog('undelivered', log);
      const pending: Record<string, AlertEvent[]> = {};
      for (const [name, events] of Object.entries(data)) {
        if (!Array.isArray(events)) drops.drop(`undelivered.${name}`, 'expected a list of events');
        else pending[name] = drops.keep(events, alertEventSchema, (i) => `undelivered.${name}[${i}]`);
      }
      drops.done();
      delivery.restore(pending);
    },
  };
}
