import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Collector } from '../../../src/watchdog/signal.js';
import { testConfig } from '../../support/app.js';
import { FakeProc } from '../../support/fake-proc.js';
import { manualClock, testApp } from '../../support/app.js';

const T0 = Date.parse('2026-11-22T12:00:00Z');
const BTIME_S = T0 / 1000 - 86_400;
const REPO = join(import.meta.dirname, '../../..');

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** True when some process holds (or waits to hold) the FIFO open for reading. */
function hasReader(fifo: string): boolean {
  try {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENXIO') return false;
    throw err;
  }
}

// /proc/<pid>/environ holds other users' secrets (tokens, passwords): the watchdog promised never to read it.
describe('the /proc scan never reads /proc/<pid>/environ', () => {
  it('no source file of the server names environ', () => {
    const offenders: string[] = [];
    for (const dir of ['src', 'routes']) {
      for (const f of readdirSync(join(REPO, dir), { recursive: true, encoding: 'utf8' })) {
        if (!f.endsWith('.ts')) continue;
        if (/\benviron\b/i.test(readFileSync(join(REPO, dir, f), 'utf8'))) offenders.push(join(dir, f));
      }
    }
    expect(offenders).toEqual([]);
  });

  it('scans, answers /proc/candidates and handles a terminate without opening an environ FIFO', async () => {
    const tree = new FakeProc(BTIME_S);
    const fifos: string[] = [];
    for (const pid of [4242, 4343]) {
      tree.add({ pid, comm: 'python3', ppid: 1, startTicks: 100, argv: ['python3', '-m', 'pytest', '--token', 's3cret'] });
      const fifo = join(tree.root, String(pid), 'environ');
      execFileSync('mkfifo', [fifo]);
      fifos.push(fifo);
    }
    const config = testConfig({
      procEnabled: true,
      procRoot: tree.root,
      procAgeMin: 1,
      procReapEnabled: true,
      procReapAgeMin: 1,
      apiToken: 'tok',
    });
    const viaApp: Collector = { name: 'proc', collect: (ctx) => app.ctx.proc.collect(ctx) };
    const app = await testApp(config, { clock: manualClock(T0), collectors: [viaApp] });
    cleanups.push(
      () => {
        // unblock a reader, if the test failed, so cleanup does not hang
        for (const f of fifos) if (hasReader(f)) closeSync(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
        tree.cleanup();
      },
      () => app.close(),
    );

    for (let i = 0; i < 2; i += 1) expect((await app.ctx.watchdog.tick()).failed).toEqual([]);
    const candidates = (await app.inject('/proc/candidates')).json().candidates as { pid: number }[];
    expect(candidates.map((c) => c.pid).sort()).toEqual([4242, 4343]);
    const res = await app.inject({ method: 'POST', url: '/proc/candidates/4242/terminate', headers: { authorization: 'Bearer tok' } });
    expect(res.statusCode).toBe(409);
    await new Promise((r) => setTimeout(r, 100));
    expect(fifos.filter(hasReader)).toEqual([]);
  });
});
