import type { Logger } from 'pino';
import { z } from 'zod';
import { isoUtc, type Clock } from '../clock.js';
import { splitUrlCredentials } from '../http.js';
import { truncate } from '../redact.js';
import type { StateSection } from '../state/state-store.js';
import { alertEventSchema, DropLog, epochMs, isObject } from '../watchdog/restore-entries.js';
import { isEdge, type AlertEvent } from '../watchdog/signal.js';
import { alertFields } from './format.js';
import { judgeAnswer, postJson, type Batching, type Notifier, type NotifyResult } from './notifier.js';

const DESCRIPTION_MAX_CHARS = 4096;

const labelMap = z.record(z.string().max(256), z.string().max(64 * 1024));
const isoTime = z
  .string()
  .max(64)
  .refine((s) => Number.isFinite(Date.parse(s)), 'must be an ISO-8601 time');
/** One element of the body of Alertmanager's `POST /api/v2/alerts`. */
const amAlertSchema = z.object({ labels: labelMap, annotations: labelMap, startsAt: isoTime.optional(), endsAt: isoTime });
/** What a peer was told is firing, per signal key: the exact label set, so a RECOVERY resolves that one. */
const firingSchema = z.object({ event: alertEventSchema, labels: labelMap, startsAtMs: epochMs });
const resolvedSchema = z.object({ alert: amAlertSchema, untilMs: epochMs });
type AmAlert = z.infer<typeof amAlertSchema>;
type Firing = z.infer<typeof firingSchema>;
type Resolved = z.infer<typeof resolvedSchema>;

/** Labels identify the alert (Alertmanager dedups and groups on them); annotations only describe it. */
function amLabels(event: AlertEvent): Record<string, string> {
  const { signal } = event;
  const labels: Record<string, string> = { alertname: signal.family, severity: signal.severity, instance: event.host };
  // An empty label value means "no label" to Alertmanager, so a family without entity simply has none.
  if (signal.entity !== null && signal.entity !== '') labels.entity = signal.entity;
  return labels;
}

function amAlert(event: AlertEvent, startsAtMs: number | undefined, endsAtMs: number, labels = amLabels(event)): AmAlert {
  const f = alertFields(event);
  return {
    labels,
    annotations: { summary: f.title, description: truncate(f.detail, DESCRIPTION_MAX_CHARS) },
    ...(startsAtMs !== undefined ? { startsAt: isoUtc(startsAtMs) } : {}),
    endsAt: isoUtc(endsAtMs),
  };
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

const DEFAULTS = {
  /** The integration name (metric label); `alertmanager-2` etc. when several peers are configured. */
  name: 'alertmanager',
  resendMs: 60_000,
  /** Edge families (job_failed, proc_reaped, merge_gate_exhausted) have no RECOVERY: they resolve on their own after this. */
  edgeHoldMs: 5 * 60_000,
  /** Resolved alerts are re-posted this long, as Prometheus does, so a peer that missed the resolve still learns of it. */
  resolvedRetentionMs: 15 * 60_000,
};

/** `holdMs`: endsAt of an active alert = now + this; 4 × resendMs by default, as Prometheus, so three lost re-sends resolve nothing. */
export type AlertmanagerOptions = Partial<typeof DEFAULTS> & { url: string; timeoutMs: number; clock: Clock; holdMs?: number };

/** Alertmanager API v2, one instance per peer (peers dedup by gossip); re-sends run in queue order, never after a RECOVERY. */
export class AlertmanagerNotifier implements Notifier {
  readonly name: string;
  readonly batching: Batching = { key: () => 'all', min: 1, max: 500 };
  readonly resendEveryMs: number;
  /** Where it posts, without credentials (they go as Authorization: Basic): this peer's key in the state file. */
  readonly endpoint: string;
  private readonly url: string;
  private readonly opts: Required<AlertmanagerOptions>;
  private readonly firing = new Map<string, Firing>();
  private readonly resolved = new Map<string, Resolved>();
  /** Re-sends posted so far, so a test can wait for one instead of sleeping. */
  resendCount = 0;

  constructor(opts: AlertmanagerOptions) {
    const withDefaults = { ...DEFAULTS, ...opts };
    this.opts = { holdMs: 4 * withDefaults.resendMs, ...withDefaults };
    this.name = this.opts.name;
    this.resendEveryMs = this.opts.resendMs;
    this.url = `${opts.url.replace(/\/+$/, '')}/api/v2/alerts`;
    this.endpoint = splitUrlCredentials(this.url).url;
  }

  /** What is being re-sent, for tests and introspection. */
  get firingKeys(): string[] {
    return [...this.firing.keys()];
  }

  notify(event: AlertEvent, abortSignal: AbortSignal): Promise<NotifyResult> {
    return this.notifyBatch([event], abortSignal);
  }

  /** One POST for the batch; what fires is only updated once the peer accepted it (a retry recomputes). */
  async notifyBatch(events: readonly AlertEvent[], abortSignal: AbortSignal): Promise<NotifyResult> {
    const now = this.opts.clock();
    const firing = new Map(this.firing);
    const resolved = new Map<string, Resolved>();
    const alerts: AmAlert[] = [];
    const refired: string[] = [];
    const resolve = (alert: AmAlert): void => {
      alerts.push(alert);
      resolved.set(JSON.stringify(alert.labels), { alert, untilMs: now + this.opts.resolvedRetentionMs });
    };
    for (const event of events) {
      const key = event.signal.key;
      const prev = firing.get(key);
      if (isEdge(event.signal)) {
        alerts.push(amAlert(event, event.at, now + this.opts.edgeHoldMs));
      } else if (event.action === 'RECOVERY') {
        // Exactly the label set that fired (its severity, not the RECOVERY's); unknown start: Alertmanager takes endsAt.
        resolve(amAlert(prev?.event ?? event, prev?.startsAtMs, now, prev?.labels));
        firing.delete(key);
      } else {
        const labels = amLabels(event);
        if (prev && !sameLabels(prev.labels, labels)) resolve(amAlert(prev.event, prev.startsAtMs, now, prev.labels));
        const startsAtMs = prev && sameLabels(prev.labels, labels) ? prev.startsAtMs : event.at;
        firing.set(key, { event, labels, startsAtMs });
        refired.push(JSON.stringify(labels));
        alerts.push(amAlert(event, startsAtMs, now + this.opts.holdMs, labels));
      }
    }
    const result = await this.post(alerts, abortSignal);
    if (result.ok) {
      this.firing.clear();
      for (const [k, v] of firing) this.firing.set(k, v);
      for (const [k, v] of resolved) this.resolved.set(k, v);
      for (const k of refired) this.resolved.delete(k);
    }
    return result;
  }

  async resend(abortSignal: AbortSignal): Promise<NotifyResult> {
    const batch = this.resendBatch(this.opts.clock());
    if (batch.length === 0) return { ok: true };
    const result = await this.post(batch, abortSignal);
    this.resendCount += 1;
    return result;
  }

  /** The alerts a re-send posts now: active ones with a fresh endsAt, recently resolved ones as they were. */
  resendBatch(now: number): AmAlert[] {
    const batch: AmAlert[] = [];
    for (const f of this.firing.values()) batch.push(amAlert(f.event, f.startsAtMs, now + this.opts.holdMs, f.labels));
    for (const [key, r] of this.resolved) {
      if (r.untilMs <= now) this.resolved.delete(key);
      else batch.push(r.alert);
    }
    return batch;
  }

  snapshot(): { firing: Firing[]; resolved: Resolved[] } {
    return { firing: [...this.firing.values()], resolved: [...this.resolved.values()] };
  }

  restore(firing: readonly Firing[], resolved: readonly Resolved[]): void {
    for (const f of firing) this.firing.set(f.event.signal.key, f);
    for (const r of resolved) this.resolved.set(JSON.stringify(r.alert.labels), r);
  }

  private async post(alerts: AmAlert[], abortSignal: AbortSignal): Promise<NotifyResult> {
    const answer = await postJson(this.url, JSON.stringify(alerts), { timeoutMs: this.opts.timeoutMs, signal: abortSignal });
    return 'ok' in answer ? answer : judgeAnswer(answer, this.opts.clock());
  }
}

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
        if (!isObject(snap) || !Array.isArray(snap.firing) || !Array.isArray(snap.resolved))
          return drops.drop(`peer ${n + 1}`, 'expected {firing: [...], resolved: [...]}');
        p.restore(
          drops.keep(snap.firing, firingSchema, (i) => `peer ${n + 1} firing[${i}]`),
          drops.keep(snap.resolved, resolvedSchema, (i) => `peer ${n + 1} resolved[${i}]`),
        );
      });
      drops.done();
    },
  };
}
