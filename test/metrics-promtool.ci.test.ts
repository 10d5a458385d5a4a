import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { makeSignal } from '../src/watchdog/signal.js';
import { testApp } from './support/app.js';
import { startHttpServer } from './support/http-server.js';

describe('/metrics is valid Prometheus exposition', () => {
  it('promtool check metrics reports nothing', async () => {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    const app = await testApp(
      {},
      {
        collectors: [
          {
            name: 'c',
            collect: async () => [
              makeSignal({ family: 'host_mem', entity: null, active: true, severity: 'critical', title: 't', detail: 'd' }),
            ],
          },
        ],
      },
    );
    await app.ctx.watchdog.tick();
    const body = (await app.inject('/metrics')).body;
    const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
    await app.close();
  });

  it('with WATCHDOG_DEPS set (one dependency up, one down), promtool check metrics reports nothing', async () => {
    const peer = await startHttpServer((req, res) => {
      res.statusCode = req.url === '/ok' ? 200 : 500;
      res.end();
    });
    const deps = [
      { name: 'api', url: `${peer.url}/ok` },
      { name: 'search', url: `${peer.url}/fail` },
    ];
    const app = await testApp({ deps, depDownAfter: 1 }, { collectors: undefined });
    try {
      await app.ctx.watchdog.tick();
      const body = (await app.inject('/metrics')).body;
      expect(body).toContain('orch_watchdog_dep_up{dep="search"} 0');
      const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
      expect(check.stdout + check.stderr).toBe('');
    } finally {
      await app.close();
      await peer.close();
    }
  });
});
