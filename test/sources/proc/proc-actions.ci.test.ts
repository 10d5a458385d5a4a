import { readFileSync, writeFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../../src/config.js';
import { isRunningState } from '../../../src/proc/parse-stat.js';
import { readStat } from '../../../src/proc/read-proc.js';
import type { Collector } from '../../../src/watchdog/signal.js';
import { manualClock, RecordingNotifier, testApp } from '../../support/app.js';
import { startHttpServer, type LoopbackServer } from '../../support/http-server.js';
import { isLive, PytestLab, SLOW_TEST } from '../../support/pytest-suite.js';
import { waitFor } from '../../support/wait-for.js';

const lab = new PytestLab();
const apps: FastifyInstance[] = [];
const servers: LoopbackServer[] = [];

afterEach(async () => {
  for (const app of apps.splice(0)) {
    await app.ctx.proc.stops.settle();
    await app.close();
  }
  for (const s of servers.splice(0)) await s.close();
  lab.cleanup();
});

const BASE: Partial<Config> = {
  procEnabled: true,
  procRoot: '/proc',
  procPatterns: ['pytest'],
  procAgeMin: 0.0005,
  killGraceS: 0.5,
  apiToken: 'tok',
  httpTimeoutS: 60,
};

async function watchdog(over: Partial<Config> = {}, withSources = false) {
  const notifier = new RecordingNotifier();
  const clock = manualClock(Date.now() + 1000);
  const viaApp: Collector = { name: 'proc', collect: (ctx) => app.ctx.proc.collect(ctx) };
  const app = await testApp(
    { ...BASE, ...over },
    { notifiers: [notifier], clock, ...(withSources ? { collectors: undefined } : { collectors: [viaApp] }) },
  );
  apps.push(app);
  const tick = async () => {
    await app.ctx.watchdog.tick();
    await app.ctx.delivery.flush(2000);
  };
  const candidate = async (pid: number) =>
    ((await app.inject('/proc/candidates')).json().candidates as { pid: number; owner: unknown; orphaned: boolean }[]).find(
      (c) => c.pid === pid,
    );
  const terminate = (pid: number) =>
    app.inject({ method: 'POST', url: `/proc/candidates/${pid}/terminate`, headers: { authorization: 'Bearer tok' } });
  const signal = async (key: string) =>
    ((await app.inject('/signals')).json().signals as { key: string; detail: string }[]).find((s) => s.key === key);
  return { app, clock, tick, candidate, terminate, signal };
}

describe('owners from the orchestrator envelope', () => {
  it('an agent that starts a pytest and exits stays its owner, and the alert says the agent is gone', { timeout: 180_000 }, async () => {
    const dir = lab.suite({ 'test_slow.py': SLOW_TEST });
    const agent = lab.spawn('bash', [
      '-c',
      `cd ${dir} && { /usr/bin/pytest -q -p no:cacheprovider & } ; while [ ! -e ${dir}/go ]; do sleep 0.05; done`,
    ]);
    const pytest = await lab.pytestBelow(agent.pid!);
    let agents = [{ run_id: '678', pid: agent.pid, cpu_ticks: 1, stage: 'tester', task: 'ORCH-111' }];
    const orchestrator = await startHttpServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ schema_version: 1, generated_at: Date.now() / 1000, queue: { counts: { failed: 0 } }, agents }));
    });
    servers.push(orchestrator);
    const w = await watchdog({ metricsUrl: orchestrator.url }, true);
    await w.tick();
    await w.tick(); // the scan of the first tick may run before the envelope arrived
    const owner = { kind: 'agent', run_id: '678', task: 'ORCH-111', stage: 'tester' };
    expect(await w.candidate(pytest.pid)).toMatchObject({ owner, orphaned: false });
    expect(await w.candidate(agent.pid!)).toBeUndefined();

    // the agent finishes: its pytest is re-parented and the envelope no longer lists it
    agents = [];
    writeFileSync(`${dir}/go`, '');
    await waitFor('the agent to exit', () => !isLive(agent.pid!));
    await w.tick();
    await w.tick();
    expect(await w.candidate(pytest.pid)).toMatchObject({ owner, orphaned: true });
    expect((await w.signal(`proc_blocking:${pytest.pid}`))?.detail).toContain('started by agent run 678, ORCH-111, tester, which is gone');
  });
});

describe('an agent seen before the envelope lists it', () => {
  // Incident guarded: a wrapper agent matched the whole-line pattern before it was listed (a new
  // agent, a restarted orchestrator container); once listed its pytest stayed a leftover of the
  // agent's "run", owner null, instead of a run of its own owned by the agent.
  it('once listed, its pytest is a run of its own owned by the agent, not a leftover', { timeout: 180_000 }, async () => {
    const dir = lab.suite({ 'test_slow.py': SLOW_TEST });
    const agent = lab.wrapped(dir);
    const pytest = await lab.pytestBelow(agent.pid!);
    // vitest itself is excluded: run with a path holding `pytest` on its command line, it would top the run
    const w = await watchdog({ procMatch: 'cmdline', procExclude: ['vitest'] });
    await w.tick();
    expect(await w.candidate(agent.pid!)).toMatchObject({ owner: null, run_pid: agent.pid });
    w.app.ctx.agents.update([{ runId: '678', pid: agent.pid!, task: 'ORCH-111', stage: 'tester' }]);
    await w.tick();
    expect(await w.candidate(agent.pid!)).toBeUndefined();
    expect(await w.candidate(pytest.pid)).toMatchObject({
      owner: { kind: 'agent', run_id: '678', task: 'ORCH-111', stage: 'tester' },
      match: 'cmdline',
      run_pid: pytest.pid,
    });
  });
});

describe('actions that can never hit the wrong process', () => {
  it('terminate answers 409 for a pytest that is (now) an agent in the envelope, and leaves it running', { timeout: 180_000 }, async () => {
    const dir = lab.suite({ 'test_slow.py': SLOW_TEST });
    const pytest = await lab.pytestBelow(lab.wrapped(dir).pid!);
    const w = await watchdog();
    await w.tick();
    expect(await w.candidate(pytest.pid)).toBeDefined();
    // listed between the scan and the request: the terminator re-reads the agents before any signal
    w.app.ctx.agents.update([{ runId: '9', pid: pytest.pid, task: null, stage: null }]);
    const res = await w.terminate(pytest.pid);
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({ error: 'protected', message: expect.stringContaining('orchestrator agent') });
    expect(isLive(pytest.pid)).toBe(true);
  });

  it("refuses the watchdog's parent with 409 protected, whatever the patterns say", { timeout: 180_000 }, async () => {
    const parentLine = readFileSync(`/proc/${process.ppid}/cmdline`, 'utf8').replace(/\0+$/, '').split('\0').join(' ');
    const exact = `^${parentLine.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
    const w = await watchdog({ procMatch: 'cmdline', procPatterns: [exact] });
    await w.tick();
    expect(await w.candidate(process.ppid)).toBeDefined();
    const res = await w.terminate(process.ppid);
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({ error: 'protected', message: expect.stringContaining('ancestor of the watchdog') });
  });

  it('refuses a pid whose start time changed between the scan and the signal (a reused pid)', { timeout: 180_000 }, async () => {
    const dir = lab.suite({ 'test_slow.py': SLOW_TEST });
    const pytest = await lab.pytestBelow(lab.wrapped(dir).pid!);
    const w = await watchdog();
    await w.tick();
    const listed = w.app.ctx.proc.view().candidates.find((c) => c.pid === pytest.pid)!;
    listed.startTicks -= 1; // what the scan saw is no longer what runs under that pid
    const res = await w.terminate(pytest.pid);
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({ error: 'changed', message: expect.stringContaining('different process') });
    expect(isLive(pytest.pid)).toBe(true);
  });

  it('the reaper never takes an agent: a listed agent is not a candidate, so an orphaned one survives', { timeout: 180_000 }, async () => {
    const dir = lab.suite({ 'test_slow.py': SLOW_TEST });
    // double fork: the pytest is orphaned at once
    const outer = lab.spawn('bash', ['-c', `cd ${dir} && { setsid /usr/bin/pytest -q -p no:cacheprovider & } ; echo $! > ${dir}/pid`]);
    await waitFor('the outer shell to exit', () => outer.exitCode !== null);
    const pid = Number(readFileSync(`${dir}/pid`, 'utf8'));
    lab.track(pid);
    await waitFor('the orphan to be pytest', () => readStat(pid)?.comm === 'pytest');
    const w = await watchdog({ procReapEnabled: true, procReapAgeMin: 0.0005 });
    w.app.ctx.agents.update([{ runId: '1', pid, task: null, stage: null }]);
    await w.tick();
    await w.app.ctx.proc.stops.settle();
    expect(await w.candidate(pid)).toBeUndefined();
    expect(isLive(pid)).toBe(true);
  });
});

describe('shutdown', () => {
  // ProcCollector.settle() existed, but onClose never called it: a SIGTERM in its grace never got its SIGKILL.
  it('closing the app settles a termination in its grace: the SIGKILL is sent before close() resolves', { timeout: 180_000 }, async () => {
    const stubborn = lab.spawn('bash', ['-c', 'trap "" TERM; exec -a pytest sleep 120']);
    await waitFor('the stubborn process', () => readStat(stubborn.pid!)?.comm === 'sleep');
    const w = await watchdog({ killGraceS: 1 });
    await w.tick();
    expect((await w.terminate(stubborn.pid!)).statusCode).toBe(202);
    apps.splice(apps.indexOf(w.app), 1);
    await w.app.close();
    const stat = readStat(stubborn.pid!);
    expect(stat === null || !isRunningState(stat.state)).toBe(true);
  });
});
