import type { AlertEvent } from '../watchdog/alert-event.js';

/** One queued event; `isInFlight` while a send carries it (coalescing and overflow leave it alone). */
export interface Entry {
  event: AlertEvent;
  attempts: number;
  isInFlight: boolean;
}

/** Lower goes first: critical before warning, and a reminder (REALERT) after news of the same severity. */
export function rank(event: AlertEvent): number {
  return (event.signal.severity === 'critical' ? 0 : 2) + (event.action === 'REALERT' ? 1 : 0);
}

/** The first pending entry of each key: a RECOVERY never overtakes its ALERT, while keys overtake one another by rank. */
export function eligible(items: readonly Entry[]): Entry[] {
  const seen = new Set<string>();
  const out: Entry[] = [];
  for (const entry of items) {
    const key = entry.event.signal.key;
    if (seen.has(key)) continue;
    seen.add(key);
    if (!entry.isInFlight) out.push(entry);
  }
  return out;
}

/** The entry to send next: best rank, then oldest; undefined when nothing is eligible. */
export function pickNext(items: readonly Entry[]): Entry | undefined {
  let best: Entry | undefined;
  for (const entry of eligible(items)) {
    if (best === undefined || rank(entry.event) < rank(best.event)) best = entry;
  }
  return best;
}

export interface Batching {
  /** Events with the same key may travel in one send. */
  key(event: AlertEvent): string;
  /** Fewer than this go one by one. */
  min: number;
  max: number;
}

/** `head` plus the other eligible entries of its batch key, oldest first, when there are at least `min`. */
export function batchFor(items: readonly Entry[], head: Entry, batching: Batching | undefined): Entry[] {
  if (batching === undefined) return [head];
  const key = batching.key(head.event);
  const batch = [head];
  for (const entry of eligible(items)) {
    if (batch.length >= batching.max) break;
    if (entry !== head && batching.key(entry.event) === key) batch.push(entry);
  }
  return batch.length >= batching.min ? batch : [head];
}

export type Coalesced = { kind: 'enqueue'; removed: Entry[] } | { kind: 'cancelled'; removed: Entry[] } | { kind: 'merged'; into: Entry };

/** A RECOVERY cancels its pending ALERT (and reminders); a REALERT refreshes a pending ALERT/REALERT instead of queueing another. */
export function coalesce(items: readonly Entry[], event: AlertEvent): Coalesced {
  const key = event.signal.key;
  const pending = items.filter((e) => !e.isInFlight && e.event.signal.key === key);
  if (event.action === 'RECOVERY') {
    const lastAlert = pending.findLastIndex((e) => e.event.action === 'ALERT');
    if (lastAlert >= 0) return { kind: 'cancelled', removed: pending.slice(lastAlert) };
    return { kind: 'enqueue', removed: pending.filter((e) => e.event.action === 'REALERT') };
  }
  if (event.action === 'REALERT') {
    const last = pending.at(-1);
    if (last !== undefined && last.event.action !== 'RECOVERY') return { kind: 'merged', into: last };
  }
  return { kind: 'enqueue', removed: [] };
}

/** Reminders are the cheapest loss (the next one comes), then warnings; critical news goes last. */
function dropScore(event: AlertEvent): number {
  return (event.action === 'REALERT' ? 2 : 0) + (event.signal.severity === 'critical' ? 0 : 1);
}

/** Which entry overflow removes: the highest drop score, oldest first; never one in flight. */
export function overflowVictim(items: readonly Entry[]): Entry | undefined {
  let victim: Entry | undefined;
  for (const entry of items) {
    if (entry.isInFlight) continue;
    if (victim === undefined || dropScore(entry.event) > dropScore(victim.event)) victim = entry;
  }
  return victim;
}
