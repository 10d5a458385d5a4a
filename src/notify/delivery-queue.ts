import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { AlertEvent } from '../watchdog/signal.js';
import type { Batching, Notifier, NotifyResult } from './notifier.js';

/** One queued event; `isInFlight` while a send carries it (coalescing and overflow leave it alone). */
interface Entry {
  event: AlertEvent;
  attempts: number;
  isInFlight: boolean;
}

/** Lower goes first: critical before warning, and a reminder (REALERT) after news of the same severity. */
function rank(event: AlertEvent): number {
  return (event.signal.severity === 'critical' ? 0 : 2) + (event.action === 'REALERT' ? 1 : 0);
}

/** The first pending entry of each key: a RECOVERY never overtakes its ALERT, while keys overtake one another by rank. */
function eligible(items: readonly Entry[]): Entry[] {
  const seen = new Set<string>();
  return items.filter((e) => {
    const isFirst = !seen.has(e.event.signal.key);
    seen.add(e.event.signal.key);
    return isFirst && !e.isInFlight;
  });
}

function lowest(score: (event: AlertEvent) => number, entries: readonly Entry[]): Entry | undefined {
  let best: Entry | undefined;
  for (const entry of entries) if (best === undefined || score(entry.event) < score(best.event)) best = entry;
  return best;
}

/** `head` plus the other eligible entries of its batch key, oldest first, when there are at least `min`. */
function batchFor(items: readonly Entry[], head: Entry, batching: Batching | undefined): Entry[] {
  if (batching === undefined) return [head];
  const key = batching.key(head.event);
  const batch = [head];
  for (const entry of eligible(items)) {
    if (batch.length >= batching.max) break;
    if (entry !== head && batching.key(entry.event) === key) batch.push(entry);
  }
  return batch.length >= batching.min ? batch : [head];
}

/** Overflow removes the lowest keep score, oldest first, never one in flight: reminders are the cheapest loss (the next one comes), then warnings; critical news goes last. */
function keepScore(event: AlertEvent): number {
  return -((event.action === 'REALERT' ? 2 : 0) + (event.signal.severity === 'critical' ? 0 : 1));
}

export const DEFAULT_QUEUE_OPTIONS = {
  /** Events held per integration (the log is never capped); beyond it the lowest priority goes. */
  capacity: 10_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  /** A server asking for a longer pause than this is still retried after this. */
  maxRetryAfterMs: 3_600_000,
  /** [0, 1), for the backoff jitter. */
  random: Math.random,
};
export type QueueOptions = typeof DEFAULT_QUEUE_OPTIONS;

function logFields(integration: string, events: readonly AlertEvent[]): Record<string, unknown> {
  const [first] = events;
  if (events.length === 1 && first) return { integration, action: first.action, key: first.signal.key, family: first.signal.family };
  return { integration, batch: events.length, action: first?.action, family: first?.signal.family };
}

/** Exponential, capped, with jitter in [50 %, 100 %] so a fleet does not retry in lockstep. */
export function backoffMs(attempt: number, opts: Pick<QueueOptions, 'backoffBaseMs' | 'backoffMaxMs' | 'random'>): number {
  const ceiling = Math.min(opts.backoffMaxMs, opts.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling * (0.5 + opts.random() / 2));
}

/** One integration's delivery, worked by a single loop: best-ranked eligible event next, a burst as one batch where it can. */
export class IntegrationQueue {
  private readonly items: Entry[] = [];
  private worker: Promise<void> | undefined;
  private sendAbort: AbortController | undefined;
  /** Ends the current sleep early; `isWakeable` false for a server's Retry-After and for pacing. */
  private wake: { now: () => void; isWakeable: boolean } | undefined;
  /** On the global `performance` clock (not node:perf_hooks'), so fake timers drive pacing in tests. */
  private lastSendEndMs = Number.NEGATIVE_INFINITY;
  private isClosed = false;
  private isResendDue = false;
  private readonly resendTimer: NodeJS.Timeout | undefined;
  /** Drops since the last delivered message, told to the reader in the next one. */
  private droppedUntold = 0;
  private isResendFailing = false;

  constructor(
    readonly notifier: Notifier,
    private readonly opts: QueueOptions,
    private readonly log: Logger,
    private readonly metrics: Record<'sent' | 'failures' | 'dropped' | 'coalesced', Counter<string>>,
  ) {
    if (notifier.resend && notifier.resendEveryMs) {
      this.resendTimer = setInterval(() => {
        this.isResendDue = true;
        this.kick();
      }, notifier.resendEveryMs);
      this.resendTimer.unref();
    }
  }

  /** The events not delivered yet (the one in flight included), oldest first: what a state file keeps. */
  pending(): AlertEvent[] {
    return this.items.map((e) => e.event);
  }

  enqueue(event: AlertEvent): void {
    if (this.isClosed) return this.drop(event, 'shutdown');
    const pending = this.items.filter((e) => !e.isInFlight && e.event.signal.key === event.signal.key);
    const last = pending.at(-1);
    // A REALERT refreshes a pending ALERT/REALERT instead of queueing another.
    if (event.action === 'REALERT' && last !== undefined && last.event.action !== 'RECOVERY') {
      last.event = last.event.action === 'ALERT' ? { ...last.event, signal: event.signal } : event;
      return this.coalesced(event);
    }
    if (event.action === 'RECOVERY') {
      // It cancels its pending ALERT (and what followed it); without one, the pending reminders go.
      const lastAlert = pending.findLastIndex((e) => e.event.action === 'ALERT');
      const moot = lastAlert >= 0 ? pending.slice(lastAlert) : pending.filter((e) => e.event.action === 'REALERT');
      this.removeAll(moot);
      for (const entry of moot) this.coalesced(entry.event);
      if (lastAlert >= 0) return this.coalesced(event);
    }
    this.items.push({ event, attempts: 0, isInFlight: false });
    while (!this.notifier.isUnbounded && this.items.length > Math.max(1, this.opts.capacity)) {
      const waiting = this.items.filter((e) => !e.isInFlight);
      const victim = lowest(keepScore, waiting);
      if (!victim) break;
      this.removeAll([victim]);
      this.droppedUntold += 1;
      this.drop(victim.event, 'overflow');
    }
    this.kick();
  }

  async idle(): Promise<void> {
    while (this.worker) await this.worker;
  }

  /** Cuts a backoff wait short (not a server's Retry-After, not pacing): shutdown tries once more. */
  retryNow(): void {
    if (this.wake?.isWakeable) this.wake.now();
  }

  /** Stops sending: aborts the request in flight; whatever is left is reported as dropped. */
  async close(): Promise<void> {
    this.isClosed = true;
    clearInterval(this.resendTimer);
    this.sendAbort?.abort();
    this.wake?.now();
    await this.idle();
    for (const entry of this.items.splice(0)) this.drop(entry.event, 'shutdown');
  }

  private kick(): void {
    this.worker ??= this.run().finally(() => (this.worker = undefined));
  }

  private async run(): Promise<void> {
    while (!this.isClosed && (this.items.length > 0 || this.isResendDue)) {
      await this.sleep(this.lastSendEndMs + (this.notifier.minIntervalMs ?? 0) - performance.now(), false);
      if (this.isClosed) break;
      if (this.isResendDue) {
        this.isResendDue = false;
        this.resent(await this.send((s) => this.notifier.resend!(s), []));
        continue;
      }
      const head = lowest(rank, eligible(this.items));
      if (!head) break;
      const batch = batchFor(this.items, head, this.notifier.notifyBatch ? this.notifier.batching : undefined);
      for (const entry of batch) entry.isInFlight = true;
      const events = batch.map((e) => e.event);
      // The first event of a send tells how many were dropped since the last one that arrived.
      if (this.droppedUntold > 0) events[0] = { ...events[0]!, droppedBefore: this.droppedUntold };
      const result = await this.send(
        (s) => (events.length > 1 ? this.notifier.notifyBatch!(events, s) : this.notifier.notify(events[0]!, s)),
        events,
      );
      for (const entry of batch) entry.isInFlight = false;
      await this.settle(batch, events, result);
    }
  }

  private async send(call: (signal: AbortSignal) => Promise<NotifyResult>, events: readonly AlertEvent[]): Promise<NotifyResult> {
    this.sendAbort = new AbortController();
    try {
      return await call(this.sendAbort.signal);
    } catch (err) {
      // A throwing notifier is a bug, not an outage: retrying would loop on it forever.
      this.log.error({ ...logFields(this.notifier.name, events), err }, 'notifier threw (a bug); notification given up');
      return { ok: false, retry: false, reason: 'internal_error', detail: err instanceof Error ? err.message : String(err) };
    } finally {
      this.sendAbort = undefined;
      // Paced from the end of a send: the peer never sees two inside the interval, whatever the network's jitter.
      this.lastSendEndMs = performance.now();
    }
  }

  private async settle(batch: Entry[], events: readonly AlertEvent[], result: NotifyResult): Promise<void> {
    if (result.ok) {
      if (events[0]?.droppedBefore) this.droppedUntold = Math.max(0, this.droppedUntold - events[0].droppedBefore);
      this.removeAll(batch);
      for (const { event } of batch) {
        this.metrics.sent.inc({ integration: this.notifier.name, action: event.action });
        this.log.debug(logFields(this.notifier.name, [event]), 'notification delivered');
      }
    } else if (result.retry && !this.isClosed) {
      const attempts = Math.max(...batch.map((e) => (e.attempts += 1)));
      const isServerPause = result.afterS !== undefined;
      const waitMs = isServerPause
        ? Math.min(Math.max(0, result.afterS! * 1000), this.opts.maxRetryAfterMs)
        : backoffMs(attempts, this.opts);
      this.failed(events, result, waitMs, attempts);
      await this.sleep(waitMs, !isServerPause);
    } else if (!result.retry) {
      this.removeAll(batch);
      this.failed(events, result, null, Math.max(...batch.map((e) => e.attempts + 1)));
    }
  }

  private failed(events: readonly AlertEvent[], f: { reason: string; detail?: string }, retryInMs: number | null, attempt: number): void {
    const integration = this.notifier.name;
    // Reasons become label values: anything but a short snake_case code collapses to "other".
    this.metrics.failures.inc({ integration, reason: /^[a-z][a-z0-9_]{0,31}$/.test(f.reason) ? f.reason : 'other' });
    const fields = { ...logFields(integration, events), reason: f.reason, detail: f.detail, attempt };
    if (retryInMs === null) this.log.error(fields, 'notification rejected; not retried');
    else this.log.warn({ ...fields, retry_in_s: retryInMs / 1000 }, 'notification failed; will retry');
  }

  private drop(event: AlertEvent, why: 'overflow' | 'shutdown'): void {
    this.metrics.dropped.inc({ integration: this.notifier.name });
    const msg = why === 'overflow' ? 'notification dropped: queue full' : 'notification dropped: not delivered before shutdown';
    this.log.error({ ...logFields(this.notifier.name, [event]), why }, msg);
  }

  /** An ALERT/RECOVERY pair (or a superseded reminder) left the queue unsent because it no longer says anything. */
  private coalesced(event: AlertEvent): void {
    this.metrics.coalesced.inc({ integration: this.notifier.name });
    this.log.debug(logFields(this.notifier.name, [event]), 'notification coalesced before sending');
  }

  /** One line per change, not per interval: a dead peer would otherwise log every minute. */
  private resent(result: NotifyResult): void {
    const integration = this.notifier.name;
    if (!result.ok && !this.isResendFailing)
      this.log.warn({ integration, reason: result.reason, detail: result.detail }, 're-send of active alerts failed');
    else if (result.ok && this.isResendFailing) this.log.info({ integration }, 're-send of active alerts works again');
    this.isResendFailing = !result.ok;
  }

  /** Coalescing or overflow may have removed some while they were being sent. */
  private removeAll(entries: readonly Entry[]): void {
    const gone = new Set(entries);
    this.items.splice(0, this.items.length, ...this.items.filter((e) => !gone.has(e)));
  }

  private sleep(ms: number, isWakeable: boolean): Promise<void> {
    if (ms <= 0 || this.isClosed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      // Pending retries must not keep a finished CLI or test process alive; shutdown flushes them.
      timer.unref();
      this.wake = { now: done, isWakeable };
    });
  }
}
