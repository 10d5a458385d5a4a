import type { Logger } from 'pino';
import { z } from 'zod';
import { DropLog, epochMs } from '../watchdog/restore-entries.js';
import type { StateSection } from '../state/state-store.js';
import type { AlertEvent } from '../watchdog/alert-event.js';
import { alertEventSchema } from '../watchdog/state-schemas.js';
import { AlertmanagerNotifier } from './alertmanager.js';
import type { QueuedDelivery } from './delivery.js';
import type { Notifier } from './notifier.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

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

const labelMap = z.record(z.string().max(256), z.string().max(64 * 1024));
const isoTime = z
  .string()
  .max(64)
  .refine((s) => Number.isFinite(Date.parse(s)), 'must be an ISO-8601 time');
const amAlertSchema = z.object({ labels: labelMap, annotations: labelMap, startsAt: isoTime.optional(), endsAt: isoTime });
const firingSchema = z.object({ event: alertEventSchema, labels: labelMap, startsAtMs: epochMs });
const resolvedSchema = z.object({ alert: amAlertSchema, untilMs: epochMs });

/** What every Alertmanager peer was told is firing (keyed by its URL without credentials), so a RECOVERY resolves that label set. */
export function alertmanagerSection(notifiers: readonly Notifier[], log: Logger): StateSection {
  const peers = notifiers.filter((n): n is AlertmanagerNotifier => n instanceof AlertmanagerNotifier);
  return {
    name: 'alertmanager-firing',
    snapshot: () => Object.fromEntries(peers.map((p) => [p.endpoint, p.snapshot()])),
    restore(data) {
      if (!isObject(data)) throw new Error('alertmanager-firing: expected an object');
      const drops = new DropLog('alertmanager-firing', log);
      peers.forEach((p, n) => {
        const snap = data[p.endpoint];
        if (snap === undefined) return;
        if (!isObject(snap) || !Array.isArray(snap.firing) || !Array.isArray(snap.resolved)) {
          drops.drop(`peer ${n + 1}`, 'expected {firing: [...], resolved: [...]}');
          return;
        }
        const firing = drops.keep(snap.firing, firingSchema, (i) => `peer ${n + 1} firing[${i}]`);
        const resolved = drops.keep(snap.resolved, resolvedSchema, (i) => `peer ${n + 1} resolved[${i}]`);
        p.restore({ firing, resolved });
      });
      drops.done();
    },
  };
}
