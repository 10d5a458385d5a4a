import type { AlertEvent } from '../watchdog/alert-event.js';
import { AlertmanagerNotifier, type AlertmanagerSnapshot } from './alertmanager.js';
import type { QueuedDelivery } from './delivery.js';
import type { Notifier } from './notifier.js';

interface Section {
  name: string;
  snapshot(): unknown;
  restore(data: unknown): void;
}

function isEvent(e: unknown): e is AlertEvent {
  const v = e as AlertEvent;
  return typeof v?.action === 'string' && typeof v.signal?.key === 'string' && typeof v.at === 'number' && typeof v.host === 'string';
}

/** Undelivered alerts per integration: after a restart they are delivered, not lost. */
export function deliverySection(delivery: QueuedDelivery): Section {
  return {
    name: 'undelivered',
    snapshot: () => delivery.pending(),
    restore(data) {
      if (typeof data !== 'object' || data === null) throw new Error('undelivered: expected an object');
      const pending: Record<string, AlertEvent[]> = {};
      for (const [name, events] of Object.entries(data as Record<string, unknown>)) {
        if (!Array.isArray(events) || !events.every(isEvent)) throw new Error(`undelivered.${name}: malformed events`);
        pending[name] = events;
      }
      delivery.restore(pending);
    },
  };
}

/** What every Alertmanager peer was told is firing (keyed by its URL without credentials), so a RECOVERY resolves that label set. */
export function alertmanagerSection(notifiers: readonly Notifier[]): Section {
  const peers = notifiers.filter((n): n is AlertmanagerNotifier => n instanceof AlertmanagerNotifier);
  return {
    name: 'alertmanager-firing',
    snapshot: () => Object.fromEntries(peers.map((p) => [p.endpoint, p.snapshot()])),
    restore(data) {
      if (typeof data !== 'object' || data === null) throw new Error('alertmanager-firing: expected an object');
      for (const p of peers) {
        const snap = (data as Record<string, AlertmanagerSnapshot | undefined>)[p.endpoint];
        if (snap === undefined) continue;
        if (!Array.isArray(snap.firing) || !Array.isArray(snap.resolved)) throw new Error('alertmanager-firing: malformed peer');
        p.restore(snap);
      }
    },
  };
}
