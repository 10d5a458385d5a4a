import { performance } from 'node:perf_hooks';
import type { Notifier, NotifyResult } from './notifier.js';
import type { AlertEvent } from '../watchdog/alert-event.js';

export interface QueueOptions {
  /** Events held per integration; beyond it the oldest REALERT goes first. */
  capacity: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** A server asking for a longer pause than this is still retried after this. */
  maxRetryAfterMs: number;
  /** [0, 1), for the backoff jitter. */
  random: () => number;
}

export const DEFAULT_QUEUE_OPTIONS: QueueOptions = {
  capacity: 500,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  maxRetryAfterMs: 3_600_000,
  random: Math.random,
};

export type Failure = Exclude<NotifyResult, { ok: true }>;

export interface QueueHooks {
  sent(event: AlertEvent): void;
  failed(event: AlertEvent, failure: Failure, retryInMs: number | null, attempt: number): void;
  dropped(event: AlertEvent, why: 'overflow' | 'shutdown'): void;
  crashed(event: AlertEvent, err: unknown): void;
}

/** Exponential, capped, with jitter in [50 %, 100 %] so a fleet does not retry in lockstep. */
export function backoffMs(attempt: number, opts: Pick<QueueOptions, 'backoffBaseMs' | 'backoffMaxMs' | 'random'>): number {
  const ceiling = Math.min(opts.backoffMaxMs, opts.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling * (0.5 + opts.random() / 2));
}

/**
 * Which queued event overflow removes: the oldest REALERT (a reminder; the next one comes),
 * else the oldest event. `skipFirst` protects the event being sent right now.
 */
export function overflowVictim(actions: readonly AlertEvent['action'][], skipFirst: boolean): number {
  const from = skipFirst ? 1 : 0;
  const realert = actions.indexOf('REALERT', from);
  return realert >= 0 ? realert : from;
}

interface Entry {
  event: AlertEvent;
  attempts: number;
}

/**
 * One integration's delivery: a bounded FIFO worked by a single loop, so events leave in the
 * order they came (a RECOVERY never overtakes its ALERT) and a failing integration only ever
 * holds up itself.
 */
export class IntegrationQueue {
  private readonly items: Entry[] = [];
  private isSending = false;
  private worker: Promise<void> | undefined;
  private sendAbort: AbortController | undefined;
  private wakeSleep: (() => void) | undefined;
  private isSleepWakeable = false;
  private lastSendEndMs = Number.NEGATIVE_INFINITY;
  private isClosed = false;

  constructor(
    readonly notifier: Notifier,
    private readonly opts: QueueOptions,
    private readonly hooks: QueueHooks,
  ) {}

  get depth(): number {
    return this.items.length;
  }

  enqueue(event: AlertEvent): void {
    if (this.isClosed) {
      this.hooks.dropped(event, 'shutdown');
      return;
    }
    this.items.push({ event, attempts: 0 });
    while (this.items.length > Math.max(1, this.opts.capacity)) {
      const victim = overflowVictim(
        this.items.map((e) => e.event.action),
        this.isSending,
      );
      const [entry] = this.items.splice(victim, 1);
      if (entry) this.hooks.dropped(entry.event, 'overflow');
    }
    this.worker ??= this.run().finally(() => (this.worker = undefined));
  }

  /** Resolves once nothing is queued (immediately when idle). */
  async idle(): Promise<void> {
    while (this.worker) await this.worker;
  }

  /** Cuts a backoff wait short (not a server's Retry-After, not pacing): shutdown tries once more. */
  retryNow(): void {
    if (this.isSleepWakeable) this.wakeSleep?.();
  }

  /** Stops sending: aborts the request in flight; whatever is left is reported as dropped. */
  async close(): Promise<void> {
    this.isClosed = true;
    this.sendAbort?.abort();
    this.wakeSleep?.();
    await this.idle();
    for (const entry of this.items.splice(0)) this.hooks.dropped(entry.event, 'shutdown');
  }

  private async run(): Promise<void> {
    while (!this.isClosed && this.items.length > 0) {
      await this.sleep(this.lastSendEndMs + (this.notifier.minIntervalMs ?? 0) - performance.now(), false);
      const entry = this.items[0];
      if (this.isClosed || !entry) break;
      this.isSending = true;
      this.sendAbort = new AbortController();
      let result: NotifyResult;
      try {
        result = await this.notifier.notify(entry.event, this.sendAbort.signal);
      } catch (err) {
        // A throwing notifier is a bug, not an outage: retrying would loop on it forever.
        this.hooks.crashed(entry.event, err);
        result = { ok: false, retry: false, reason: 'internal_error', detail: err instanceof Error ? err.message : String(err) };
      } finally {
        this.isSending = false;
        this.sendAbort = undefined;
        // Paced from the end of a send: the peer never sees two inside the interval, whatever the network's jitter.
        this.lastSendEndMs = performance.now();
      }
      if (result.ok) {
        this.remove(entry);
        this.hooks.sent(entry.event);
      } else if (result.retry && !this.isClosed) {
        entry.attempts += 1;
        const isServerPause = result.afterS !== undefined;
        const waitMs = isServerPause ? Math.min(Math.max(0, result.afterS! * 1000), this.opts.maxRetryAfterMs) : backoffMs(entry.attempts, this.opts);
        this.hooks.failed(entry.event, result, waitMs, entry.attempts);
        await this.sleep(waitMs, !isServerPause);
      } else if (!result.retry) {
        this.remove(entry);
        this.hooks.failed(entry.event, result, null, entry.attempts + 1);
      }
    }
  }

  /** Overflow may have removed the entry while it was being sent. */
  private remove(entry: Entry): void {
    const i = this.items.indexOf(entry);
    if (i >= 0) this.items.splice(i, 1);
  }

  private sleep(ms: number, isWakeable: boolean): Promise<void> {
    if (ms <= 0 || this.isClosed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeSleep = undefined;
        this.isSleepWakeable = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      // Pending retries must not keep a finished CLI or test process alive; shutdown flushes them.
      timer.unref();
      this.wakeSleep = done;
      this.isSleepWakeable = isWakeable;
    });
  }
}
