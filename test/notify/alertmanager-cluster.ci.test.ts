import type { IncomingMessage } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../support/app.js';
import { QueuedDelivery } from '../../src/notify/delivery.js';
import { buildNotifiers } from '../../src/notify/index.js';
import { CLUSTER_TIMING, freePort, startAlertmanager, type RunningAlertmanager } from '../support/alertmanager.js';
import { startHttpServer, type LoopbackServer } from '../support/http-server.js';
import { waitFor } from '../support/wait-for.js';
import { alertEvent } from '../support/alert-events.js';
import { capturedLog, Registry } from '../support/notify.js';

interface Notification {
  entity: string;
  status: 'firing' | 'resolved';
  /** Which peer sent it (its receiver path), for the failure message. */
  peer: string;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => resolve(raw));
  });
}

let receiver: LoopbackServer;
const notifications: Notification[] = [];
const peers: RunningAlertmanager[] = [];
const ports = { webA: 0, webB: 0, gossipA: 0, gossipB: 0 };
let delivery: QueuedDelivery;

const count = (entity: string, status: Notification['status']): number =>
  notifications.filter((n) => n.entity === entity && n.status === status).length;
const seen = (entity: string): string =>
  JSON.stringify(notifications.filter((n) => n.entity === entity).map((n) => `${n.status} from ${n.peer}`));

/**
 * A duplicate comes from the peer at position 1: at most one peer timeout (plus a gossip round and
 * the POST) after the first peer's notification. Waiting this long without one means there is none.
 */
const QUIET_MS = 2 * CLUSTER_TIMING.peerTimeoutMs + 1_000;
/** A resolve is notified at the group's next tick: up to group_interval after the RECOVERY. */
const RESOLVE_TIMEOUT_MS = CLUSTER_TIMING.groupIntervalMs + 10_000;

async function expectExactlyOnce(entity: string, status: Notification['status']): Promise<void> {
  await waitFor(`the ${status} notification of ${entity}`, () => count(entity, status) >= 1, {
    timeoutMs: status === 'firing' ? 20_000 : RESOLVE_TIMEOUT_MS,
    describe: () => seen(entity),
  });
  await delay(QUIET_MS);
  expect(count(entity, status), seen(entity)).toBe(1);
}

function peer(which: 'A' | 'B'): Promise<RunningAlertmanager> {
  const [web, gossip, other] = which === 'A' ? [ports.webA, ports.gossipA, ports.gossipB] : [ports.webB, ports.gossipB, ports.gossipA];
  return startAlertmanager({
    port: web,
    cluster: { port: gossip, peers: [`127.0.0.1:${other}`] },
    receiverUrl: `${receiver.url}/am/${which}`,
  });
}

/** Both peers in one cluster, and gossip settled (until then a peer holds its notifications back). */
async function meshReady(p: RunningAlertmanager): Promise<boolean> {
  const status = (await (await fetch(`${p.url}/api/v2/status`)).json()) as { cluster?: { peers?: unknown[]; status?: string } };
  return status.cluster?.peers?.length === 2 && status.cluster.status === 'ready';
}

/**
 * Dedup needs the gossip mesh before an alert is sent. Settled matters too: a flush held back while
 * settling carries alerts taken before the hold, so a change made meanwhile can race it.
 */
async function waitForMesh(): Promise<void> {
  await waitFor('both peers in one settled cluster', async () => (await Promise.all(peers.map(meshReady))).every(Boolean), {
    timeoutMs: 30_000,
    intervalMs: 200,
  });
}

beforeAll(async () => {
  receiver = await startHttpServer((req, res) => {
    void readBody(req).then((raw) => {
      const body = JSON.parse(raw) as { alerts: { status: Notification['status']; labels: Record<string, string> }[] };
      for (const a of body.alerts) notifications.push({ entity: a.labels.entity ?? '', status: a.status, peer: req.url ?? '' });
      res.writeHead(200).end();
    });
  });
  [ports.webA, ports.webB, ports.gossipA, ports.gossipB] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  peers.push(await peer('A'));
  peers.push(await peer('B'));
  await waitForMesh();
  const config = testConfig({ notifiers: ['alertmanager'], alertmanagerUrls: peers.map((p) => p.url), httpTimeoutS: 1 });
  delivery = new QueuedDelivery(buildNotifiers(config, { log: capturedLog().log }), {
    log: capturedLog().log,
    registry: new Registry(),
    queue: { backoffBaseMs: 100, backoffMaxMs: 500 },
  });
}, 120_000);

afterAll(async () => {
  await delivery?.close();
  await Promise.all(peers.map((p) => p.stop()));
  await receiver?.close();
});

describe('a two-peer Alertmanager cluster (gossip on loopback) gets every alert at every peer', () => {
  it('one notification per alert at the receiver, resolved once', async () => {
    expect(
      buildNotifiers(testConfig({ notifiers: ['alertmanager'], alertmanagerUrls: peers.map((p) => p.url) }), {
        log: capturedLog().log,
      }).map((n) => n.name),
    ).toEqual(['alertmanager-1', 'alertmanager-2']);
    delivery.enqueue(alertEvent('ALERT', { entity: 'c1' }));
    await delivery.flush(10_000);
    for (const p of peers) expect((await p.alerts()).some((a) => a.labels.entity === 'c1')).toBe(true);
    await expectExactlyOnce('c1', 'firing');
    delivery.enqueue(alertEvent('RECOVERY', { entity: 'c1' }));
    await delivery.flush(10_000);
    await expectExactlyOnce('c1', 'resolved');
    for (const p of peers) expect((await p.alerts()).some((a) => a.labels.entity === 'c1')).toBe(false);
    // No stale "firing" from the second peer after the resolve either.
    expect(count('c1', 'firing'), seen('c1')).toBe(1);
  }, 90_000);

  it('also while one peer is down and after it returns: its own queue catches up, the others are not held up', async () => {
    const b = peers.pop()!;
    await b.stop();
    delivery.enqueue(alertEvent('ALERT', { entity: 'c2' }));
    await waitFor('peer A has c2', async () => (await peers[0]!.alerts()).some((a) => a.labels.entity === 'c2'));
    await expectExactlyOnce('c2', 'firing');
    expect(delivery.depths().get('alertmanager-2')).toBe(1);

    peers.push(await peer('B'));
    await waitForMesh();
    await delivery.flush(20_000);
    expect(delivery.depths().get('alertmanager-2')).toBe(0);
    expect((await peers[1]!.alerts()).some((a) => a.labels.entity === 'c2')).toBe(true);
    // The returned peer learnt from the mesh that c2 was notified: its catch-up copy notifies nothing.
    // That copy came in while it settled, so its first flush (alerts taken before the hold) is only
    // deduped a peer timeout after settling: a RECOVERY resolved by peer A meanwhile would race it.
    await delay(CLUSTER_TIMING.groupWaitMs + QUIET_MS);
    expect(count('c2', 'firing'), seen('c2')).toBe(1);
    delivery.enqueue(alertEvent('RECOVERY', { entity: 'c2' }));
    await delivery.flush(10_000);
    await expectExactlyOnce('c2', 'resolved');
    for (const p of peers) expect((await p.alerts()).some((a) => a.labels.entity === 'c2')).toBe(false);
    expect(count('c2', 'firing'), seen('c2')).toBe(1);
  }, 120_000);
});
