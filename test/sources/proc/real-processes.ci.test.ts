import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { parseStat } from '../../../src/proc/parse-stat.js';
import { createMatcher } from '../../../src/sources/proc/program.js';
import { RunStops } from '../../../src/sources/proc/stop.js';
import type { Collector } from '../../../src/watchdog/signal.js';
import type { Config } from '../../../src/config.js';
import { createLogger } from '../../../src/logger.js';
import { RecordingNotifier, testApp } from '../../support/app.js';
import { markedPids } from '../../support/pytest-suite.js';
import { waitFor } from '../../support/wait-for.js';

// A marker no other process on the machine carries: the pattern matches only this file's processes.
const MARKER = `pytest-fake-${process.pid}-${Date.now()}`;

const children: ChildProcess[] = [];
const apps: FastifyInstance[] = [];

afterEach(async () => {
  for (const app of apps.splice(0)) {
    await app.ctx.proc.stops.settle();
    await app.close();
  }
  for (const pid of markedPids(MARKER)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function start(script: string, extraArgs: string[] = [], detached = false): ChildProcess {
  const child = spawn('sh', ['-c', script, MARKER, ...extraArgs], { detached, stdio: 'ignore' });
  children.push(child);
  return child;
}

const exited = (child: ChildProcess): Promise<NodeJS.Signals | number | null> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(child.signalCode ?? child.exitCode)
    : new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));

function stat(pid: number) {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return null;
  }
}

const isAlive = (pid: number): boolean => {
  const s = stat(pid);
  return s !== null && s.state !== 'Z';
};

async function app(over: Partial<Config> = {}) {
  const notifier = new RecordingNotifier();
  const viaApp: Collector = { name: 'proc', collect: (ctx) => instance.ctx.proc.collect(ctx) };
  const instance = await testApp(
    // 0.0005 min = 30 ms: a process spawned by the test is "old" almost at once
    // the marker is an argument of `sh -c`: the whole-line rule (WATCHDOG_PROC_MATCH=cmdline) finds it
    {
      procEnabled: true,
      procRoot: '/proc',
      procPatterns: [MARKER],
      procMatch: 'cmdline',
      procAgeMin: 0.0005,
      killGraceS: 0.4,
      apiToken: 'tok',
      httpTimeoutS: 60,
      ...over,
    },
    { collectors: [viaApp], notifiers: [notifier] },
  );
  apps.push(instance);
  const tick = async () => {
    const r = await instance.ctx.watchdog.tick();
    await instance.ctx.delivery.flush(2000);
    return r;
  };
  const terminate = (pid: number) =>
    instance.inject({ method: 'POST', url: `/proc/candidates/${pid}/terminate`, headers: { authorization: 'Bearer tok' } });
  return { app: instance, notifier, tick, terminate };
}

const settleAge = () => new Promise((r) => setTimeout(r, 80));

describe('real processes end to end', () => {
  it('finds a spawned pytest-like process, redacts its token, alerts, and recovers once it exits', async () => {
    const child = start('sleep 30; :', ['--token', 'abc123']);
    await settleAge();
    const { app: a, notifier, tick } = await app();
    await tick();
    const body = (await a.inject('/proc/candidates')).json();
    const c = body.candidates.find((x: { pid: number }) => x.pid === child.pid);
    expect(c).toMatchObject({ ppid: process.pid, orphaned: false, blocking: true, cmdline: `sh -c sleep 30; : ${MARKER} --token ***` });
    expect(c.age_s).toBeGreaterThan(0.03);
    expect(c.age_s).toBeLessThan(30);
    expect(notifier.actions()).toEqual([`ALERT proc_blocking:${child.pid}`]);
    expect(notifier.events[0]!.signal.detail).not.toContain('abc123');

    child.kill('SIGKILL');
    await exited(child);
    await tick();
    await tick();
    expect(notifier.actions()).toEqual([`ALERT proc_blocking:${child.pid}`, `RECOVERY proc_blocking:${child.pid}`]);
  });
});

describe('POST /proc/candidates/:pid/terminate on real processes', () => {
  it("SIGTERMs exactly the run's processes (the shell and its sleep) and answers 202 without waiting for the grace", async () => {
    const child = start('sleep 30; :', [], true);
    await settleAge();
    const { notifier, tick, terminate, app: a } = await app({ killGraceS: 5 });
    await tick();
    const t0 = Date.now();
    const res = await terminate(child.pid!);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(body).toMatchObject({ pid: child.pid, signalled: 'SIGTERM', run_pid: child.pid, kill_after_s: 5 });
    expect(body.processes[0]).toMatchObject({ pid: child.pid, comm: 'sh', signal: 'SIGTERM', at: expect.stringMatching(/Z$/) });
    expect(body.processes.map((p: { comm: string }) => p.comm).sort()).toEqual(['sh', 'sleep']);
    expect(await exited(child)).toBe('SIGTERM');
    await a.ctx.proc.stops.settle();
    await a.ctx.delivery.flush(2000);
    expect(notifier.actions()).toContain(`ALERT proc_reaped:${child.pid}`);
    expect(notifier.events.at(-1)!.signal.detail).toContain("Terminated by an API request: the run's processes");
  });

  // The incident: test processes that ignore SIGTERM lived for days. SIGKILL must follow the grace.
  it('SIGKILLs a run that ignores SIGTERM once the grace is over', async () => {
    const child = start('trap "" TERM; sleep 30; :', [], true);
    await settleAge();
    const { tick, terminate, notifier, app: a } = await app({ killGraceS: 0.4 });
    await tick();
    expect((await terminate(child.pid!)).statusCode).toBe(202);
    expect(await exited(child)).toBe('SIGKILL');
    await a.ctx.proc.stops.settle();
    await a.ctx.delivery.flush(2000);
    expect(notifier.events.at(-1)!.signal.detail).toContain('ignored SIGTERM and was killed with SIGKILL');
    expect(await a.inject('/metrics').then((r) => r.body)).toMatch(/^orch_watchdog_proc_reaped_total\{trigger="api"\} 1$/m);
  });

  it('409 when the pid exec-ed into something that no longer matches, and leaves it alone', async () => {
    // the test decides when the exec happens: SIGUSR1 makes the shell exec a non-matching sleep
    const child = start("trap 'exec sleep 30' USR1; while :; do sleep 0.05; done", [], true);
    await settleAge();
    const { tick, terminate, app: a } = await app();
    await tick();
    expect(a.ctx.proc.view().candidates.map((c) => c.pid)).toContain(child.pid);
    process.kill(child.pid!, 'SIGUSR1');
    await waitFor('the marker to leave the cmdline', () => !readFileSync(`/proc/${child.pid}/cmdline`, 'latin1').includes(MARKER));
    const res = await terminate(child.pid!);
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({ error: 'changed', message: expect.stringContaining('no longer matches') });
    expect(isAlive(child.pid!)).toBe(true);
  });

  it('409 when the candidate has exited since the scan', async () => {
    const child = start('sleep 30; :', [], true);
    await settleAge();
    const { tick, terminate } = await app();
    await tick();
    child.kill('SIGKILL');
    await exited(child);
    const res = await terminate(child.pid!);
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toBe('not_running');
  });
});

describe('the reaper (WATCHDOG_PROC_REAP_ENABLED)', () => {
  // Double fork: the outer sh exits at once, so both test processes are re-parented (orphans).
  function spawnOrphans(): void {
    start(`setsid sh -c 'sleep 30; :' ${MARKER}-plain & setsid sh -c 'trap "" TERM; sleep 30; :' ${MARKER}-stubborn & exit 0`);
  }

  /** Both orphans re-parented to pid 1 (a child of ours never is), old enough to be candidates. */
  async function settledOrphans(): Promise<number[]> {
    spawnOrphans();
    let orphans: number[] = [];
    await waitFor('both orphans re-parented to pid 1', () => {
      orphans = markedPids(MARKER).filter((pid) => stat(pid)?.comm === 'sh' && stat(pid)?.ppid === 1);
      return orphans.length === 2;
    });
    await settleAge();
    return orphans;
  }

  it('terminates old orphaned matches (SIGKILL for the one ignoring SIGTERM), alerts proc_reaped, and spares a process with a live parent', async () => {
    const attached = start('sleep 30; :');
    const orphans = await settledOrphans();
    const { tick, notifier, app: a } = await app({ procReapEnabled: true, procReapAgeMin: 0.0005, killGraceS: 0.4 });
    await tick();
    await a.ctx.proc.stops.settle();
    await a.ctx.delivery.flush(2000);
    for (const pid of orphans) expect(isAlive(pid)).toBe(false);
    expect(isAlive(attached.pid!)).toBe(true);
    const reaped = notifier.events.filter((e) => e.signal.family === 'proc_reaped');
    expect(reaped.map((e) => Number(e.signal.entity)).sort()).toEqual([...orphans].sort());
    expect(reaped.map((e) => e.signal.detail).join('\n')).toMatch(/ignored SIGTERM and was killed with SIGKILL/);
    expect(reaped.map((e) => e.signal.detail).join('\n')).toMatch(/exited after SIGTERM/);
    expect((await a.inject('/metrics')).body).toMatch(/^orch_watchdog_proc_reaped_total\{trigger="reaper"\} 2$/m);
  });

  // An engine outage must neither let the reaper guess which host process is an agent nor stop it for good.
  it('waits while WATCHDOG_ORCH_CONTAINER cannot be located and agents are listed, and reaps once nothing is unknown', async () => {
    const orphans = await settledOrphans();
    const { tick, app: a } = await app({
      procReapEnabled: true,
      procReapAgeMin: 0.0005,
      killGraceS: 0.4,
      orchContainer: 'orch',
      dockerSock: `/tmp/owd-no-engine-${process.pid}/docker.sock`,
      httpTimeoutS: 2,
    });
    a.ctx.agents.update([{ runId: '678', pid: 7, task: 'ORCH-111', stage: 'tester' }]);
    await tick();
    await tick();
    await a.ctx.proc.stops.settle();
    for (const pid of orphans) expect(isAlive(pid)).toBe(true);
    expect(a.ctx.agents.unlocatedReason()).toMatch(/^WATCHDOG_ORCH_CONTAINER=orch: the Docker Engine could not be read: no socket at/);
    // the orchestrator lists no agent any more: nothing is left to protect, and the runs refused before are not remembered
    a.ctx.agents.update([]);
    await tick();
    await a.ctx.proc.stops.settle();
    for (const pid of orphans) expect(isAlive(pid)).toBe(false);
  });

  it('does nothing when reaping is off', async () => {
    const orphans = await settledOrphans();
    const { tick, app: a } = await app({ procReapEnabled: false });
    await tick();
    await a.ctx.proc.stops.settle();
    for (const pid of orphans) expect(isAlive(pid)).toBe(true);
    const body = (await a.inject('/proc/candidates')).json();
    expect(body.candidates.filter((c: { orphaned: boolean }) => c.orphaned)).toHaveLength(2);
  });
});

describe('the terminator never signals pid 1, the watchdog or its ancestors', () => {
  it('refuses them before any signal', async () => {
    const sent: [number, string | number][] = [];
    const t = new RunStops(
      { procRoot: '/proc', procEnabled: true, killGraceS: 0.1, procReapAgeMin: 240, locale: 'en' },
      {
        log: createLogger({ level: 'silent' }),
        matcher: createMatcher({ patterns: ['.'], exclude: [], mode: 'cmdline' }),
        last: () => null,
        kill: (pid, signal) => void sent.push([pid, signal]),
      },
    );
    for (const pid of [0, 1, process.pid, process.ppid]) {
      const id = { pid, startTicks: stat(pid)?.startTicks ?? 0 };
      const r = await t.start({ candidate: id, top: id, topMatch: 'cmdline', processes: [id] });
      expect(r).toMatchObject({ ok: false, code: 'protected' });
    }
    expect(sent).toEqual([]);
  });
});
