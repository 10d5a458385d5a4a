import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../metrics.js';

export interface NotifyMetrics {
  sent: Counter<'integration' | 'action'>;
  failures: Counter<'integration' | 'reason'>;
  dropped: Counter<'integration'>;
  coalesced: Counter<'integration'>;
}

/** Registers the delivery metrics on the app's registry; queue depth is read at scrape time. */
export function createNotifyMetrics(registry: Registry, queueDepths: () => Iterable<[integration: string, depth: number]>): NotifyMetrics {
  new Gauge({
    name: `${METRIC_PREFIX}notification_queue_depth`,
    help: 'Notifications waiting (or being retried) per integration.',
    labelNames: ['integration'],
    registers: [registry],
    collect() {
      for (const [integration, depth] of queueDepths()) this.set({ integration }, depth);
    },
  });
  return {
    sent: new Counter({
      name: `${METRIC_PREFIX}notifications_sent_total`,
      help: 'Notifications the integration accepted, by integration and action.',
      labelNames: ['integration', 'action'],
      registers: [registry],
    }),
    failures: new Counter({
      name: `${METRIC_PREFIX}notification_failures_total`,
      help: 'Failed send attempts (retried or given up), by integration and reason.',
      labelNames: ['integration', 'reason'],
      registers: [registry],
    }),
    dropped: new Counter({
      name: `${METRIC_PREFIX}notifications_dropped_total`,
      help: 'Notifications never delivered: dropped on queue overflow or left over at shutdown.',
      labelNames: ['integration'],
      registers: [registry],
    }),
    coalesced: new Counter({
      name: `${METRIC_PREFIX}notifications_coalesced_total`,
      help: 'Queued notifications left unsent because a later one made them moot (an ALERT/RECOVERY pair, a superseded reminder).',
      labelNames: ['integration'],
      registers: [registry],
    }),
  };
}

/** Reasons become label values: anything but a short snake_case code collapses to "other". */
export function reasonLabel(reason: string): string {
  return /^[a-z][a-z0-9_]{0,31}$/.test(reason) ? reason : 'other';
}
