import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertmanagerNotifier, type AlertmanagerOptions } from '../../src/notify/alertmanager.js';
import { startAlertmanager, type AmApiAlert, type RunningAlertmanager } from '../support/alertmanager.js';
import { refusedUrl } from '../support/http-server.js';
import { waitFor } from '../support/wait-for.js';
import { alertEvent } from './events.js';

let am: RunningAlertmanager;
const never = new AbortController().signal;
const open: AlertmanagerNotifier[] = [];

beforeAll(async () => {
  am = await startAlertmanager();
});
afterAll(async () => {
  await Promise.all(open.map((n) => n.close()));
  await am?.stop();
});

function notifier(overrides: Partial<AlertmanagerOptions> = {}): AlertmanagerNotifier {
  const n = new AlertmanagerNotifier({ url: am.url, timeoutMs: 2_000, clock: Date.now, log: pino({ level: 'silent' }), ...overrides });
  open.push(n);
  return n;
}

async function firing(entity: string): Promise<AmApiAlert | undefined> {
  return (await am.alerts()).find((a) => a.labels.entity === entity);
}

describe('the real Alertmanager shows the alert firing, then resolved', () => {
  it('ALERT fires with alertname/entity/severity/instance labels; RECOVERY resolves it', async () => {
    const n = notifier();
    const event = alertEvent('ALERT', { family: 'container', entity: 'redis-1', severity: 'critical', title: 'container redis-1 is restarting', detail: 'restarts: 5' });
    expect(await n.notify(event, never)).toEqual({ ok: true });

    const alert = await firing('redis-1');
    expect(alert).toMatchObject({
      labels: { alertname: 'container', entity: 'redis-1', severity: 'critical', instance: 'build-01' },
      annotations: { summary: 'container redis-1 is restarting', description: 'restarts: 5' },
      status: { state: 'active' },
    });
    expect(Date.parse(alert!.startsAt)).toBe(event.at);

    expect(await n.notify(alertEvent('RECOVERY', { family: 'container', entity: 'redis-1' }), never)).toEqual({ ok: true });
    expect(await firing('redis-1')).toBeUndefined();
    expect(n.firingKeys).toEqual([]);
  });

  it('a family without entity carries no entity label', async () => {
    const n = notifier();
    await n.notify(alertEvent('ALERT', { family: 'orch_down', entity: null, title: 'orchestrator unreachable' }), never);
    const alert = (await am.alerts()).find((a) => a.labels.alertname === 'orch_down');
    expect(alert?.labels).toEqual({ alertname: 'orch_down', severity: 'critical', instance: 'build-01' });
    await n.notify(alertEvent('RECOVERY', { family: 'orch_down', entity: null }), never);
  });
});

describe('re-send while active: Alertmanager never resolves a live alert', () => {
  it('keeps pushing endsAt ahead, so the alert outlives its first endsAt', async () => {
    const n = notifier({ resendMs: 250, holdMs: 1_000 });
    await n.notify(alertEvent('ALERT', { entity: 'resend-live' }), never);
    const first = await firing('resend-live');
    const firstEndsAtMs = Date.parse(first!.endsAt);
    let later: AmApiAlert | undefined;
    // Past the first endsAt the alert is still there, with an endsAt pushed ahead by the re-sends.
    await waitFor('the alert outliving its first endsAt', async () => {
      later = await firing('resend-live');
      return Date.now() > firstEndsAtMs + 200 && later !== undefined && Date.parse(later.endsAt) > firstEndsAtMs + 500;
    });
    expect(later!.startsAt).toBe(first!.startsAt);
  });

  it('without re-sends (a closed or dead watchdog) the same alert times out after holdMs', async () => {
    const n = notifier({ resendMs: 250, holdMs: 1_000 });
    await n.notify(alertEvent('ALERT', { entity: 'resend-dead' }), never);
    await n.close();
    const alert = await firing('resend-dead');
    expect(alert).toBeDefined();
    await waitFor('the unrefreshed alert to time out', async () => (await firing('resend-dead')) === undefined);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(alert!.endsAt));
  });

  it('a resolved alert is not revived by a later re-send', async () => {
    const n = notifier({ resendMs: 100, holdMs: 2_000 });
    await n.notify(alertEvent('ALERT', { entity: 'no-revive' }), never);
    await waitFor('a first re-send', () => n.resendCount >= 1);
    await n.notify(alertEvent('RECOVERY', { entity: 'no-revive' }), never);
    const resends = n.resendCount;
    await waitFor('two re-sends after the RECOVERY', () => n.resendCount >= resends + 2);
    expect(await firing('no-revive')).toBeUndefined();
  });
});

describe('edge families resolve on their own', () => {
  it('a job_failed ALERT is sent with a short endsAt and is not re-sent', async () => {
    const n = notifier({ resendMs: 100, edgeHoldMs: 800 });
    await n.notify(alertEvent('ALERT', { family: 'job_failed', entity: 'edge-1', title: 'a job failed' }), never);
    expect(await firing('edge-1')).toBeDefined();
    expect(n.firingKeys).toEqual([]);
    await waitFor('the edge alert to resolve on its own', async () => (await firing('edge-1')) === undefined);
  });
});

describe('Alertmanager unreachable', () => {
  it('is a retryable connection failure', async () => {
    const n = new AlertmanagerNotifier({ url: await refusedUrl(), timeoutMs: 1_000, clock: Date.now, log: pino({ level: 'silent' }) });
    expect(await n.notify(alertEvent('ALERT'), never)).toMatchObject({ ok: false, retry: true, reason: 'connection' });
    await n.close();
  });
});
