import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { makeSignal } from '../src/watchdog/signal.js';
import { testApp } from './support/app.js';

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
});
