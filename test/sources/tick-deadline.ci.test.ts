import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { RecordingNotifier, testApp } from '../support/app.js';
import { refusedUrl, startHttpServer, type LoopbackServer } from '../support/http-server.js';
import { waitFor } from '../support/wait-for.js';

// Incident guarded: with 3 × WATCHDOG_TICK_S below WATCHDOG_HTTP_TIMEOUT_S (tick 1 s, timeout 5 s) a hung
// orchestrator was abandoned with its collector before the timeout counted: orch_down stayed false for 40 s+,
// and one hung dependency hid every other, a refused one too.
describe('every outbound deadline fits inside the tick', () => {
  const peers: LoopbackServer[] = [];
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.ctx.watchdog.stop();
    await app?.close();
    app = undefined;
    for (const p of peers.splice(0)) await p.close();
  });

  const neverAnswers = async () => {
    const peer = await startHttpServer(() => undefined);
    peers.push(peer);
    return peer;
  };

  it('a never-answering orchestrator at tick 1 s with the 5 s timeout raises orch_down after WATCHDOG_ORCH_DOWN_AFTER ticks', async () => {
    const orchestrator = await neverAnswers();
    const notifier = new RecordingNotifier();
    app = await testApp(
      { tickS: 1, httpTimeoutS: 5, metricsUrl: `${orchestrator.url}/envelope`, orchDownAfter: 3 },
      { collectors: undefined, notifiers: [notifier] },
    );
    app.ctx.watchdog.start();
    await waitFor('the orch_down ALERT', () => notifier.actions().includes('ALERT orch_down'), { timeoutMs: 40_000 });
    const last = app.ctx.watchdog.lastTick;
    // the fetch failed as a fetch (counted), the collector was not abandoned
    expect(last?.failed).toEqual([]);
    expect(last?.signals.find((s) => s.key === 'orch_down')?.detail).toMatch(/timeout/);
    expect(orchestrator.requests).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('a hung dependency next to a refused one: both get their own result in the same tick', async () => {
    const hung = await neverAnswers();
    app = await testApp(
      {
        tickS: 1,
        httpTimeoutS: 5,
        depDownAfter: 1,
        deps: [
          { name: 'hung', url: `${hung.url}/health` },
          { name: 'refused', url: `${await refusedUrl()}/health` },
        ],
      },
      { collectors: undefined, notifiers: [] },
    );
    const started = Date.now();
    const result = await app.ctx.watchdog.tick();
    // the whole tick stays inside the collector budget (3 ticks), not the 5 s timeout
    expect(Date.now() - started).toBeLessThan(4_500);
    expect(result.failed).toEqual([]);
    const byKey = Object.fromEntries(result.signals.filter((s) => s.family === 'dep_down').map((s) => [s.key, s]));
    expect(byKey['dep_down:hung']).toMatchObject({ active: true, detail: expect.stringMatching(/timeout/) });
    expect(byKey['dep_down:refused']).toMatchObject({ active: true, detail: expect.stringMatching(/connection refused/) });
  }, 30_000);
});
