import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { isoUtc } from '../clock.js';
import { redactSecrets } from '../redact.js';
import { isEdge } from '../watchdog/signal.js';
import { alertFields, fitText } from './format.js';
import { bodySnippet, parseRetryAfter, postJson, statusFailure, transportFailure } from './http-post.js';
import type { Notifier, NotifyResult } from './notifier.js';
import type { AlertEvent } from '../watchdog/alert-event.js';

/** One element of the body of Alertmanager's `POST /api/v2/alerts`. */
export interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt?: string;
  endsAt: string;
}

const DESCRIPTION_MAX_CHARS = 4096;

/** Labels identify the alert (Alertmanager dedups and groups on them); annotations only describe it. */
export function amAlert(event: AlertEvent, startsAtMs: number | undefined, endsAtMs: number): AmAlert {
  const { signal } = event;
  const f = alertFields(event);
  const labels: Record<string, string> = { alertname: signal.family, severity: signal.severity, instance: event.host };
  // An empty label value means "no label" to Alertmanager, so a family without entity simply has none.
  if (signal.entity !== null && signal.entity !== '') labels.entity = signal.entity;
  return {
    labels,
    annotations: { summary: f.title, description: fitText(f.detail, DESCRIPTION_MAX_CHARS) },
    ...(startsAtMs !== undefined ? { startsAt: isoUtc(startsAtMs) } : {}),
    endsAt: isoUtc(endsAtMs),
  };
}

export interface AlertmanagerOptions {
  url: string;
  timeoutMs: number;
  clock: Clock;
  log: Logger;
  /** How often alerts still active are re-posted. */
  resendMs?: number;
  /** endsAt of an active alert = now + this; Prometheus uses 4 × its re-send interval, so three lost re-sends resolve nothing. */
  holdMs?: number;
  /** Edge families (job_failed, proc_reaped, merge_gate_exhausted) have no RECOVERY: they resolve on their own after this. */
  edgeHoldMs?: number;
  /** Resolved alerts are re-posted this long, as Prometheus does, so every peer behind a balancer learns of it. */
  resolvedRetentionMs?: number;
}

interface Firing {
  event: AlertEvent;
  startsAtMs: number;
}

/**
 * Alertmanager API v2. Keeps what it told Alertmanager is firing and re-posts it on its own
 * unref()ed timer with a fresh endsAt, so a live alert never times out there; a RECOVERY
 * posts endsAt = now. Posts are serialized so a re-send can never land after a RECOVERY.
 */
export class AlertmanagerNotifier implements Notifier {
  readonly name = 'alertmanager';
  private readonly endpoint: string;
  private readonly resendMs: number;
  private readonly holdMs: number;
  private readonly edgeHoldMs: number;
  private readonly resolvedRetentionMs: number;
  private readonly firing = new Map<string, Firing>();
  private readonly resolved = new Map<string, { alert: AmAlert; untilMs: number }>();
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly closing = new AbortController();
  private isResendQueued = false;
  private isResendFailing = false;
  /** Re-sends posted so far, so a test can wait for one instead of sleeping. */
  resendCount = 0;

  constructor(private readonly opts: AlertmanagerOptions) {
    this.endpoint = `${opts.url.replace(/\/+$/, '')}/api/v2/alerts`;
    this.resendMs = opts.resendMs ?? 60_000;
    this.holdMs = opts.holdMs ?? 4 * this.resendMs;
    this.edgeHoldMs = opts.edgeHoldMs ?? 5 * 60_000;
    this.resolvedRetentionMs = opts.resolvedRetentionMs ?? 15 * 60_000;
  }

  /** What is being re-sent, for tests and introspection. */
  get firingKeys(): string[] {
    return [...this.firing.keys()];
  }

  async notify(event: AlertEvent, abortSignal: AbortSignal): Promise<NotifyResult> {
    const now = this.opts.clock();
    const key = event.signal.key;
    let alert: AmAlert;
    if (isEdge(event.signal)) {
      alert = amAlert(event, event.at, now + this.edgeHoldMs);
    } else if (event.action === 'RECOVERY') {
      // Unknown start (e.g. after a restart): Alertmanager then takes startsAt = endsAt.
      alert = amAlert(event, this.firing.get(key)?.startsAtMs, now);
      this.firing.delete(key);
      this.resolved.set(key, { alert, untilMs: now + this.resolvedRetentionMs });
    } else {
      const startsAtMs = this.firing.get(key)?.startsAtMs ?? event.at;
      this.firing.set(key, { event, startsAtMs });
      this.resolved.delete(key);
      alert = amAlert(event, startsAtMs, now + this.holdMs);
    }
    this.startTimer();
    return this.serial(() => this.post([alert], abortSignal));
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.closing.abort();
    await this.chain.catch(() => undefined);
  }

  /** The alerts a re-send posts now: active ones with a fresh endsAt, recently resolved ones as they were. */
  resendBatch(now: number): AmAlert[] {
    const batch: AmAlert[] = [];
    for (const f of this.firing.values()) batch.push(amAlert(f.event, f.startsAtMs, now + this.holdMs));
    for (const [key, r] of this.resolved) {
      if (r.untilMs <= now) this.resolved.delete(key);
      else batch.push(r.alert);
    }
    return batch;
  }

  private startTimer(): void {
    if (this.timer || this.closing.signal.aborted) return;
    this.timer = setInterval(() => this.resend(), this.resendMs);
    this.timer.unref();
  }

  private resend(): void {
    if (this.isResendQueued) return;
    this.isResendQueued = true;
    void this.serial(async () => {
      this.isResendQueued = false;
      const batch = this.resendBatch(this.opts.clock());
      if (batch.length === 0) return;
      const result = await this.post(batch, this.closing.signal);
      this.resendCount += 1;
      if (!result.ok && !this.isResendFailing) {
        this.opts.log.warn({ integration: this.name, reason: result.reason, detail: result.detail, alerts: batch.length }, 're-send of active alerts to Alertmanager failed');
      } else if (result.ok && this.isResendFailing) {
        this.opts.log.info({ integration: this.name, alerts: batch.length }, 're-send of active alerts to Alertmanager works again');
      }
      this.isResendFailing = !result.ok;
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async post(alerts: AmAlert[], abortSignal: AbortSignal): Promise<NotifyResult> {
    let answer;
    try {
      answer = await postJson(this.endpoint, JSON.stringify(alerts), { timeoutMs: this.opts.timeoutMs, signal: abortSignal });
    } catch (err) {
      return transportFailure(err, redactSecrets);
    }
    if (answer.status >= 200 && answer.status < 300) return { ok: true };
    const detail = redactSecrets(`HTTP ${answer.status}: ${bodySnippet(answer.text)}`);
    return statusFailure(answer.status, detail, parseRetryAfter(answer.headers['retry-after'], this.opts.clock()));
  }
}
