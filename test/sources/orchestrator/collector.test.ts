import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { OrchestratorCollector } from '../../../src/sources/orchestrator/collector.js';
import { createLogger } from '../../../src/logger.js';
import { refusedUrl, startHttpServer, type LoopbackServer } from '../../support/http-server.js';

const log = createLogger({ level: 'silent' });
const GOOD = JSON.stringify({
  schema_version: 1,
  generated_at: 1781500000.5,
  queue: { counts: { queued: 2, running: 1, failed: 7, done: 120 } },
  agents: [{ run_id: '678', pid: 4242, cpu_ticks: 15321, stage: 'tester', task: 'ORCH-111', extra: { ignored: true } }],
  unknown_top_level: 'ignored',
});

let server: LoopbackServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

// 3 s for peers that answer (a loaded CI host took over 0.3 s); the hang tests pass 0.3 themselves.
function collector(url: string, httpTimeoutS = 3) {
  return new OrchestratorCollector({ metricsUrl: url, httpTimeoutS, orchDownAfter: 1, agentHungS: 900, locale: 'en' });
}
const ctx = () => ({ abortSignal: new AbortController().signal, now: Date.now(), log });

describe('orchestrator envelope over real HTTP', () => {
  it('a valid envelope (with unknown extra fields) yields an inactive orch_down and one agent signal', async () => {
    server = await startHttpServer((_req, res) => res.end(GOOD));
    const signals = await collector(`${server.url}/metrics.json`).collect(ctx());
    expect(signals.map((s) => [s.key, s.active])).toEqual([
      ['orch_down', false],
      ['agent_hung:678', false],
    ]);
  });

  const bad: [string, (res: ServerResponse) => void, RegExp][] = [
    ['garbage', (res) => res.end('<html>oops</html>'), /not valid JSON/],
    ['truncated JSON', (res) => res.end(GOOD.slice(0, 40)), /not valid JSON/],
    [
      'wrong-typed failed count',
      (res) => res.end(GOOD.replace('"failed":7', '"failed":"seven"')),
      /invalid envelope: queue\.counts\.failed/,
    ],
    [
      'missing agents',
      (res) => res.end(JSON.stringify({ schema_version: 1, generated_at: 1, queue: { counts: { failed: 0 } } })),
      /invalid envelope: agents/,
    ],
    [
      'unsupported schema_version',
      (res) => res.end(GOOD.replace('"schema_version":1', '"schema_version":2')),
      /invalid envelope: schema_version/,
    ],
    [
      'HTTP 500',
      (res) => {
        res.statusCode = 500;
        res.end('{}');
      },
      /HTTP 500/,
    ],
    [
      'a redirect (not followed)',
      (res) => {
        res.statusCode = 302;
        res.setHeader('location', '/elsewhere');
        res.end();
      },
      /HTTP 302/,
    ],
  ];

  it.each(bad)('%s is a failed fetch with a clear reason', async (_name, answer, reason) => {
    server = await startHttpServer((_req, res) => answer(res));
    const [down] = await collector(server.url).collect(ctx());
    expect(down).toMatchObject({ key: 'orch_down', active: true });
    expect(down?.detail).toMatch(reason);
  });

  it('a refused connection is a failed fetch', async () => {
    const [down] = await collector(await refusedUrl()).collect(ctx());
    expect(down?.detail).toMatch(/connection refused/);
  });

  it('an orchestrator that hangs is cut off at WATCHDOG_HTTP_TIMEOUT_S', async () => {
    server = await startHttpServer(() => undefined);
    const started = Date.now();
    const [down] = await collector(server.url, 0.3).collect(ctx());
    expect(Date.now() - started).toBeLessThan(2000);
    expect(down?.detail).toMatch(/timeout/);
  });

  it('a body that trickles slower than the timeout is cut off too', async () => {
    server = await startHttpServer((_req, res) => {
      res.write('{"schema_version":1,');
      // never finishes
    });
    const started = Date.now();
    const [down] = await collector(server.url, 0.3).collect(ctx());
    expect(Date.now() - started).toBeLessThan(2000);
    expect(down).toMatchObject({ active: true });
  });
});
