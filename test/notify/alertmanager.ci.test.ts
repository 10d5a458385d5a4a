import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertmanagerNotifier, type AlertmanagerOptions } from '../../src/notify/alertmanager.js';
import { QueuedDelivery } from '../../src/notify/delivery.js';
import { startAlertmanager, type AmApiAlert, type RunningAlertmanager } from '../support/alertmanager.js';
import { refusedUrl } from '../support/http-server.js';
import { waitFor } from '../support/wait-for.js';
import { alertEvent } from '../support/alert-events.js';
import { capturedLog, Registry } from '../support/notify.js';

let am: RunningAlertmanager;
const never = new AbortController().signal;
const open: QueuedDelivery[] = [];

beforeAll(async () => {
  am = await startAlertmanager();
});
afterAll(async () => {
  await Promise.all(open.map((n) => n.close()));
  await am?.stop();
});

function notifier(overrides: Partial<AlertmanagerOptions> = {}): AlertmanagerNotifier {
  return new AlertmanagerNotifier({ url: am.url, timeoutMs: 2_000, clock: Date.now, ...overrides });
}

/** Re-sends are run by delivery, in the queue's order: these tests drive the notifier through it. */
function delivered(n: AlertmanagerNotifier): QueuedDelivery {
  const d = new QueuedDelivery([n], { log: capturedLog().log, registry: new Registry() });
  open.push(d);
  return d;
}

async function firing(entity: string): Promise<AmApiAlert | undefined> {
  return (await am.alerts()).find((a) => a.labels.entity === entity);
}

describe('the real Alertmanager shows the alert firing, then resolved', () => {
  it('ALERT fires with alertname/entity/severity/instance labels; RECOVERY resolves it', async () => {
    const n = notifier();
    const event = alertEvent('ALERT', {
      family: 'container',
      entity: 'redis-1',
      severity: 'critical',
      title: 'container redis-1 is restarting',
      detail: 'restarts: 5',
    });
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
    const d = delivered(n);
    d.enqueue(alertEvent('ALERT', { entity: 'resend-live' }));
    await d.flush(5_000);
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
    const d = delivered(n);
    d.enqueue(alertEvent('ALERT', { entity: 'resend-dead' }));
    await d.flush(5_000);
    await d.close();
    const alert = await firing('resend-dead');
    expect(alert).toBeDefined();
    await waitFor('the unrefreshed alert to time out', async () => (await firing('resend-dead')) === undefined);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(alert!.endsAt));
  });

  it('a resolved alert is not revived by a later re-send', async () => {
    const n = notifier({ resendMs: 100, holdMs: 2_000 });
    const d = delivered(n);
    d.enqueue(alertEvent('ALERT', { entity: 'no-revive' }));
    await waitFor('a first re-send', () => n.resendCount >= 1);
    d.enqueue(alertEvent('RECOVERY', { entity: 'no-revive' }));
    await d.flush(5_000);
    const resends = n.resendCount;
    await waitFor('two re-sends after the RECOVERY', () => n.resendCount >= resends + 2);
    expect(await firing('no-revive')).toBeUndefined();
  });
});

describe('edge families resolve on their own', () => {
  it('a job_failed ALERT is sent with a short endsAt and is not re-sent', async () => {
    const n = notifier({ resendMs: 100, edgeHoldMs: 800 });
    delivered(n);
    await n.notify(alertEvent('ALERT', { family: 'job_failed', entity: 'edge-1', title: 'a job failed' }), never);
    expect(await firing('edge-1')).toBeDefined();
    expect(n.firingKeys).toEqual([]);
    await waitFor('the edge alert to resolve on its own', async () => (await firing('edge-1')) === undefined);
  });
});

describe('Alertmanager unreachable', () => {
  it('is a retryable connection failure', async () => {
    const n = new AlertmanagerNotifier({ url: await refusedUrl(), timeoutMs: 1_000, clock: Date.now });
    expect(await n.notify(alertEvent('ALERT'), never)).toMatchObject({ ok: false, retry: true, reason: 'connection' });
  });
});

describe('a RECOVERY resolves exactly the label set that fired', () => {
  it('a warning that escalated to critical: the warning is resolved, the critical fires, the RECOVERY resolves the critical', async () => {
    const n = notifier();
    await n.notify(alertEvent('ALERT', { entity: 'escalate', severity: 'warning' }), never);
    expect((await firing('escalate'))?.labels.severity).toBe('warning');
    await n.notify(alertEvent('REALERT', { entity: 'escalate', severity: 'critical' }), never);
    const now = (await am.alerts()).filter((a) => a.labels.entity === 'escalate');
    expect(now.map((a) => a.labels.severity)).toEqual(['critical']);
    // The proc source posts its RECOVERY as warning; the critical label set must still be resolved.
    await n.notify(alertEvent('RECOVERY', { entity: 'escalate', severity: 'warning' }), never);
    expect(await firing('escalate')).toBeUndefined();
    expect(n.firingKeys).toEqual([]);
  });
});

// bcrypt (cost 4) of AM_PASSWORD, made once with python3 crypt.METHOD_BLOWFISH: Alertmanager's web config wants a hash.
const AM_USER = 'watchdog';
const AM_PASSWORD = 'am-test-password-7';
const AM_BCRYPT = '$2b$04$KFfJAo08/P667Z/mhOJKnujXcMHwXNQ0eGduIXgbJDfqmpaTfHic6';

describe('an Alertmanager behind basic auth', () => {
  let secured: RunningAlertmanager;
  beforeAll(async () => {
    secured = await startAlertmanager({ basicAuth: { user: AM_USER, password: AM_PASSWORD, bcrypt: AM_BCRYPT } });
  });
  afterAll(async () => {
    await secured?.stop();
  });

  it('user:pass@ in the URL is sent as Authorization: Basic: the alert fires, and the password shows in no log line', async () => {
    const url = secured.url.replace('://', `://${AM_USER}:${AM_PASSWORD}@`);
    const n = new AlertmanagerNotifier({ url, timeoutMs: 2_000, clock: Date.now });
    expect(n.endpoint).not.toContain(AM_PASSWORD);
    const { log, lines } = capturedLog();
    const d = new QueuedDelivery([n], { log, registry: new Registry() });
    open.push(d);
    d.enqueue(alertEvent('ALERT', { entity: 'behind-auth' }));
    await d.flush(5_000);
    expect((await secured.alerts()).find((a) => a.labels.entity === 'behind-auth')).toBeDefined();
    expect(lines.join('')).not.toContain(AM_PASSWORD);
  });

  it('without the credentials it answers 401, which is a rejection whose detail carries no secret', async () => {
    const wrong = secured.url.replace('://', `://${AM_USER}:not-${AM_PASSWORD}@`);
    const result = await new AlertmanagerNotifier({ url: wrong, timeoutMs: 2_000, clock: Date.now }).notify(alertEvent('ALERT'), never);
    expect(result).toMatchObject({ ok: false, retry: false, reason: 'client_error' });
    expect(JSON.stringify(result)).not.toContain(AM_PASSWORD);
  });
});
