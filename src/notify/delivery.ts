import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../metrics.js';
import { redactSecrets } from '../redact.js';
import type { StateSection } from '../state/state-store.js';
import { alertEventSchema, DropLog, isObject } from '../watchdog/restore-entries.js';
import type { AlertEvent } from '../watchdog/signal.js';
import { DEFAULT_QUEUE_OPTIONS, IntegrationQueue, type QueueOptions } from './delivery-queue.js';
import type { Notifier } from './notifier.js';

/** The delivery counters on the app's registry; queue depth is read at scrape time. */
function createNotifyMetrics(registry: Registry, queues: () => readonly IntegrationQueue[]) {
  const registers = [registry];
  new Gauge({
    name: `${METRIC_PREFIX}notification_queue_depth`,
    help: 'Notifications waiting (or being retried) per integration.',
    labelNames: ['integration'],
    registers,
    collect() {
      for (const q of queues()) this.set({ integration: q.notifier.name }, q.pending().length);
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

/** The edge where an alert's text leaves: redacted once, here, for every integration. */
function redacted(event: AlertEvent): AlertEvent {
  return { ...event, signal: { ...event.signal, title: redactSecrets(event.signal.title), detail: redactSecrets(event.signal.detail) } };
}

/** One queue per integration, so a failing one never delays the others and the tick never waits; tests shorten `queue`. */
export class QueuedDelivery {
  private readonly queues: IntegrationQueue[];

  constructor(
    notifiers: readonly Notifier[],
    private readonly deps: { log: Logger; registry: Registry; queue?: Partial<QueueOptions> },
  ) {
    const metrics = createNotifyMetrics(deps.registry, () => this.queues);
    this.queues = notifiers.map((n) => new IntegrationQueue(n, { ...DEFAULT_QUEUE_OPTIONS, ...deps.queue }, deps.log, metrics));
  }

  enqueue(event: AlertEvent): void {
    const safe = redacted(event);
    for (const q of this.queues) q.enqueue(safe);
  }

  async flush(timeoutMs: number): Promise<void> {
    for (const q of this.queues) q.retryNow();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const outcome = await Promise.race([Promise.all(this.queues.map((q) => q.idle())), timeout]);
    clearTimeout(timer);
    for (const [integration, pending] of outcome === 'timeout' ? this.depths() : [])
      if (pending > 0) this.deps.log.warn({ integration, pending, timeout_s: timeoutMs / 1000 }, 'notifications still pending after flush');
  }

  /** Stops every queue: what is left counts as dropped. */
  async close(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.close()));
  }

  depths(): Map<string, number> {
    return new Map(this.queues.map((q) => [q.notifier.name, q.pending().length]));
  }

  pending(): Record<string, AlertEvent[]> {
    return Object.fromEntries(this.queues.map((q) => [q.notifier.name, q.pending()]));
  }

  /** Undelivered alerts per integration: after a restart they are delivered, not lost. */
  stateSection(): StateSection {
    return {
      name: 'undelivered',
      snapshot: () => this.pending(),
      restore: (data) => {
        if (!isObject(data)) throw new Error('undelivered: expected an object');
        const drops = new DropLog('undelivered', this.deps.log);
        for (const [name, events] of Object.entries(data)) {
          const queue = this.queues.find((q) => q.notifier.name === name);
          if (!Array.isArray(events)) drops.drop(`undelivered.${name}`, 'expected a list of events');
          else
            for (const event of drops.keep(events, alertEventSchema, (i) => `undelivered.${name}[${i}]`)) queue?.enqueue(redacted(event));
        }
        drops.done();
      },
    };
  }
}
