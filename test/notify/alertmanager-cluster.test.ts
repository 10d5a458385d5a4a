import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../src/config.js';
import { createDelivery, type QueuedDelivery } from '../../src/notify/delivery.js';
import { buildNotifiers } from '../../src/notify/index.js';
import { freePort, startAlertmanager, type RunningAlertmanager } from '../support/alertmanager.js';
import { startHttpServer, type LoopbackServer } from '../support/http-server.js';
import { waitFor } from '../support/wait-for.js';
import { alertEvent } from './events.js';
import { capturedLog, Registry } from './support.js';

interface Notification {
  entity: string;
  status: 'firing' | 'resolved';
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

function peer(which: 'A' | 'B'): Promise<RunningAlertmanager> {
  const [web, gossip, other] = which === 'A' ? [ports.webA, ports.gossipA, ports.gossipB] : [ports.webB, ports.gossipB, ports.gossipA];
  return startAlertmanager({ port: web, cluster: { port: gossip, peers: [`127.0.0.1:${other}`] }, receiverUrl: `${receiver.url}/am` });
}

/** Gossip dedup: the second peer waits peer-timeout (3 s) × its position, then notifies only if the first did not. */
async function settleDedupWindow(): Promise<void> {
  const until = Date.now() + 8_000;
  await waitFor('the dedup window to pass', () => Date.now() >= until, { timeoutMs: 10_000, intervalMs: 200 });
}

beforeAll(async () => {
  receiver = await startHttpServer((req, res) => {
    void readBody(req).then((raw) => {
      const body = JSON.parse(raw) as { alerts: Array<{ status: Notification['status']; labels: Record<string, string> }> };
      for (const a of body.alerts) notifications.push({ entity: a.labels.entity ?? '', status: a.status });
      res.writeHead(200).end();
    });
  });
  [ports.webA, ports.webB, ports.gossipA, ports.gossipB] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  peers.push(...(await Promise.all([peer('A'), peer('B')])));
  const config = testConfig({ notifiers: ['alertmanager'], alertmanagerUrls: peers.map((p) => p.url), httpTimeoutS: 1 });
  delivery = createDelivery(buildNotifiers(config, { log: capturedLog().log }), {
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
    expect(buildNotifiers(testConfig({ notifiers: ['alertmanager'], alertmanagerUrls: peers.map((p) => p.url) }), { log: capturedLog().log }).map((n) => n.name)).toEqual([
      'alertmanager-1',
      'alertmanager-2',
    ]);
    delivery.enqueue(alertEvent('ALERT', { entity: 'c1' }));
    await delivery.flush(10_000);
    for (const p of peers) expect((await p.alerts()).some((a) => a.labels.entity === 'c1')).toBe(true);
    await waitFor('the firing notification', () => count('c1', 'firing') >= 1, { timeoutMs: 20_000 });
    delivery.enqueue(alertEvent('RECOVERY', { entity: 'c1' }));
    await delivery.flush(10_000);
    await waitFor('the resolved notification', () => count('c1', 'resolved') >= 1, { timeoutMs: 20_000 });
    await settleDedupWindow();
    expect([count('c1', 'firing'), count('c1', 'resolved')]).toEqual([1, 1]);
  }, 90_000);

  it('also while one peer is down and after it returns: its own queue catches up, the others are not held up', async () => {
    const b = peers.pop()!;
    await b.stop();
    delivery.enqueue(alertEvent('ALERT', { entity: 'c2' }));
    await waitFor('peer A has c2', async () => (await peers[0]!.alerts()).some((a) => a.labels.entity === 'c2'));
    await waitFor('the firing notification', () => count('c2', 'firing') >= 1, { timeoutMs: 20_000 });
    expect(delivery.depths().get('alertmanager-2')).toBe(1);

    peers.push(await peer('B'));
    await delivery.flush(20_000);
    expect(delivery.depths().get('alertmanager-2')).toBe(0);
    expect((await peers[1]!.alerts()).some((a) => a.labels.entity === 'c2')).toBe(true);
    delivery.enqueue(alertEvent('RECOVERY', { entity: 'c2' }));
    await delivery.flush(10_000);
    await waitFor('the resolved notification', () => count('c2', 'resolved') >= 1, { timeoutMs: 20_000 });
    await settleDedupWindow();
    expect([count('c2', 'firing'), count('c2', 'resolved')]).toEqual([1, 1]);
  }, 120_000);
});
