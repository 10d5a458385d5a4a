import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertmanagerNotifier, alertmanagerSection } from '../../src/notify/alertmanager.js';
import { startHttpServer, type LoopbackServer } from '../support/http-server.js';
import { alertEvent } from '../support/alert-events.js';
import { capturedLog } from '../support/notify.js';

let peer: LoopbackServer;
beforeAll(async () => {
  peer = await startHttpServer((_req, res) => res.writeHead(200).end());
});
afterAll(() => peer.close());

const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);
const notifier = () => new AlertmanagerNotifier({ url: peer.url, timeoutMs: 2_000, clock: () => NOW });

describe('the alertmanager-firing state section', () => {
  it('round-trips what a peer was told is firing; a malformed entry is dropped and logged, and re-sends still work', async () => {
    const before = notifier();
    expect(await before.notify(alertEvent('ALERT'), new AbortController().signal)).toEqual({ ok: true });
    expect(await before.notify(alertEvent('RECOVERY', { entity: '77' }), new AbortController().signal)).toEqual({ ok: true });
    const saved = JSON.parse(JSON.stringify(alertmanagerSection([before], capturedLog().log).snapshot())) as Record<
      string,
      { firing: Record<string, unknown>[]; resolved: Record<string, unknown>[] }
    >;
    const peerState = saved[before.endpoint]!;
    expect(peerState.firing).toHaveLength(1);
    expect(peerState.resolved).toHaveLength(1);
    const good = peerState.firing[0]!;
    peerState.firing.push({ ...good, startsAtMs: 1e20 }, { labels: {} });
    peerState.resolved.push({ alert: { labels: {}, annotations: {}, endsAt: 'soon' }, untilMs: NOW + 1000 });

    const { log, records } = capturedLog();
    const after = notifier();
    alertmanagerSection([after], log).restore(saved, { stalePids: [] });
    expect(after.firingKeys).toEqual(['proc_blocking:4242']);
    expect(records().map((r) => [r.entry, r.reason])).toEqual([
      ['peer 1 firing[1]', expect.stringMatching(/^startsAtMs: /)],
      ['peer 1 firing[2]', expect.stringMatching(/^event: /)],
      ['peer 1 resolved[1]', expect.stringMatching(/^alert\.endsAt: must be an ISO-8601 time/)],
    ]);
    // the re-send renders every restored alert (a time of 1e20 would throw here)
    expect(after.resendBatch(NOW).map((a) => a.labels.entity)).toEqual(['4242', '77']);
  });
});
