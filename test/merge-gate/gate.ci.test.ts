import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { MergeGate } from '../../src/merge-gate/gate.js';
import { QueueFull } from '../../src/merge-gate/types.js';
import { RunAsRefused } from '../../src/runner/account.js';
import { defaultKillEnvironment } from '../../src/runner/launch.js';
import type { Signal } from '../../src/watchdog/signal.js';
import { survivors } from '../support/adversarial.js';
import {
  gateOptions as options,
  manualPressure,
  manualRunner,
  retestRequest as request,
  runReport as report,
  userOwnedDir,
} from '../support/merge-gate.js';
import { waitFor } from '../support/wait-for.js';

const log = createLogger({ level: 'silent' });
const clock = () => Date.parse('2026-11-22T12:00:00Z');

describe('queue order: FIFO per repo, one run per repo, WATCHDOG_MERGE_MAX_PARALLEL across repos', () => {
  it('default 1: re-tests run one after another, in arrival order, so they never starve each other', async () => {
    const runner = manualRunner();
    const gate = new MergeGate(options(), { clock, log, run: runner.run });
    const ids = ['a', 'b', 'a', 'c'].map((repo) => gate.enqueue(request(repo)).id);
    expect(gate.counters()).toMatchObject({ running: 1, queued: 3 });
    for (let i = 0; i < 4; i++) {
      await waitFor(`run ${i} started`, () => runner.started.length > i);
      runner.started[i]!.finish(report({}));
    }
    await gate.idle();
    expect(runner.names()).toEqual(['a', 'b', 'a', 'c']);
    expect(runner.maxRunning()).toBe(1);
    expect(ids.map((id) => gate.get(id)?.status)).toEqual(['done', 'done', 'done', 'done']);
  });

  it('parallel 2: two repos at once, but never two runs of the same repo', async () => {
    const runner = manualRunner();
    const gate = new MergeGate(options({ mergeMaxParallel: 2 }), { clock, log, run: runner.run });
    for (const repo of ['a', 'a', 'b', 'c']) gate.enqueue(request(repo));
    expect(runner.names()).toEqual(['a', 'b']);
    expect(gate.counters()).toMatchObject({ running: 2, queued: 2 });
    runner.started[0]!.finish(report({}));
    await waitFor('the second a started', () => runner.started.length === 3);
    // the second "a" arrived before "c": it goes next
    expect(runner.names()).toEqual(['a', 'b', 'a']);
    runner.started[1]!.finish(report({}));
    await waitFor('c started', () => runner.started.length === 4);
    expect(runner.names()).toEqual(['a', 'b', 'a', 'c']);
    runner.started[2]!.finish(report({}));
    runner.started[3]!.finish(report({}));
    await gate.idle();
    expect(runner.maxRunning()).toBe(2);
  });

  it("the runner gets the request's env and nothing of the watchdog's (the account's own is built by the runner)", async () => {
    process.env.WATCHDOG_API_TOKEN = 'sekret-token';
    try {
      const runner = manualRunner();
      const gate = new MergeGate(options({ mergeMaxParallel: 2 }), { clock, log, run: runner.run });
      gate.enqueue(request('a', 'main', { env: { PYTEST_ADDOPTS: '-x' } }));
      gate.enqueue(request('b'));
      runner.started[0]!.finish(report({}));
      runner.started[1]!.finish(report({}));
      await gate.idle();
      expect(runner.started.map((s) => s.opts.env)).toEqual([{ PYTEST_ADDOPTS: '-x' }, {}]);
    } finally {
      delete process.env.WATCHDOG_API_TOKEN;
    }
  });

  it('each run gets its own timeout (or the default) and the configured grace', async () => {
    const runner = manualRunner();
    const gate = new MergeGate(options({ mergeRetestTimeoutS: 900, killGraceS: 5 }), { clock, log, run: runner.run });
    gate.enqueue(request('a', 'main', { timeoutS: 60 }));
    gate.enqueue(request('b'));
    runner.started[0]!.finish(report({}));
    await waitFor('b started', () => runner.started.length === 2);
    runner.started[1]!.finish(report({}));
    await gate.idle();
    expect(runner.started.map((s) => [s.opts.timeoutMs, s.opts.graceMs, s.opts.treeKill])).toEqual([
      [60_000, 5000, true],
      [900_000, 5000, true],
    ]);
  });
});

describe('run-as: a re-test never runs with the watchdog identity (issue 14: it read every secret)', () => {
  it('runs as the owner of cwd: the runner gets its uid and gid', async () => {
    const runner = manualRunner();
    const gate = new MergeGate(options({ mergeAllowRoot: false }), { clock, log, run: runner.run });
    const run = gate.enqueue(request('a', 'main', { cwd: userOwnedDir() }));
    expect(runner.started[0]!.opts.runAs).toEqual({ uid: 65534, gid: 65534 });
    expect(run.runAs).toEqual({ uid: 65534, user: 'nobody' });
    runner.started[0]!.finish(report({}));
    await gate.idle();
  });

  it('WATCHDOG_MERGE_RUN_AS names the user (name or uid)', () => {
    const runner = manualRunner();
    const byName = new MergeGate(options({ mergeAllowRoot: false, mergeRunAs: 'nobody' }), { clock, log, run: runner.run });
    byName.enqueue(request('a'));
    const byUid = new MergeGate(options({ mergeAllowRoot: false, mergeRunAs: '65534' }), { clock, log, run: runner.run });
    byUid.enqueue(request('b'));
    expect(runner.started.map((s) => [s.opts.runAs?.uid, s.opts.runAs?.gid])).toEqual([
      [65534, 65534],
      [65534, 65534],
    ]);
  });

  it('a root-owned cwd is refused unless WATCHDOG_MERGE_ALLOW_ROOT=true; an unknown user and the watchdog own uid too', () => {
    const runner = manualRunner();
    const strict = new MergeGate(options({ mergeAllowRoot: false }), { clock, log, run: runner.run });
    expect(() => strict.enqueue(request('a', 'main', { cwd: '/' }))).toThrow(/owned by root.*WATCHDOG_MERGE_ALLOW_ROOT=true/);
    expect(() => new MergeGate(options({ mergeRunAs: 'no-such-user-x' }), { clock, log, run: runner.run }).enqueue(request('a'))).toThrow(
      RunAsRefused,
    );
    const asSelf = new MergeGate(options({ mergeAllowRoot: false }), { clock, log, run: runner.run, selfUid: 65534 });
    expect(() => asSelf.enqueue(request('a', 'main', { cwd: userOwnedDir() }))).toThrow(/the watchdog's own/);
    expect(runner.started).toHaveLength(0);
    expect(strict.counters()).toMatchObject({ queued: 0, running: 0 });
  });
});

describe('decisions and re-queues', () => {
  it('pass -> merge, red -> rollback, a crash -> rollback', async () => {
    const results = [report({}), report({ returncode: 1 }), report({ returncode: null, signal: 'SIGSEGV' })];
    const gate = new MergeGate(options(), { clock, log, run: async () => results.shift()! });
    const ids = ['a', 'b', 'c'].map((r) => gate.enqueue(request(r)).id);
    await gate.idle();
    expect(ids.map((id) => [gate.get(id)?.outcome, gate.get(id)?.decision])).toEqual([
      ['pass', 'merge'],
      ['red', 'rollback'],
      ['other', 'rollback'],
    ]);
    expect(gate.counters()).toMatchObject({ runsTotal: 3, outcomes: { pass: 1, red: 1, other: 1, timeout: 0 } });
  });

  it('an infra timeout is re-queued as the next attempt (not rolled back), until the budget runs out: one alert quoting the pressure', async () => {
    const alerts: Signal[] = [];
    const gate = new MergeGate(options({ mergeInfraRetryMax: 2 }), {
      clock,
      log,
      pressure: manualPressure(0, 0.71),
      run: async () => report({ returncode: null, signal: 'SIGTERM', timed_out: true, duration_s: 600 }),
      onExhausted: (s) => alerts.push(s),
    });
    const first = gate.enqueue(request('api', 'feat-x'));
    await gate.idle();
    const chain = [gate.get(first.id)!];
    while (chain.at(-1)!.requeuedAs) chain.push(gate.get(chain.at(-1)!.requeuedAs!)!);
    expect(chain.map((r) => [r.attempt, r.outcome, r.decision])).toEqual([
      [1, 'timeout', 'requeue'],
      [2, 'timeout', 'requeue'],
      [3, 'timeout', 'exhausted'],
    ]);
    expect(chain[1]!.previousId).toBe(chain[0]!.id);
    expect(chain[0]!.pressure).toEqual({ cpuStalledShare: 0.71, memoryStalledShare: 0, cpuSomeAvg10Peak: 0 });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      family: 'merge_gate_exhausted',
      entity: 'api@feat-x',
      key: 'merge_gate_exhausted:api@feat-x',
      active: true,
      severity: 'critical',
    });
    expect(alerts[0]!.detail).toContain('api@feat-x: 3 timeouts; CPU stalled 71% of the time');
    expect(gate.counters()).toMatchObject({ runsTotal: 3, infraRequeues: 2, infraExhausted: 1, outcomes: { timeout: 3 } });
  });

  it('lock_busy is infra too (a holder was found); a pass after it merges; the alert of an exhausted chain names the holder and the stop command', async () => {
    const results = [report({ returncode: 1, stderr: 'database is locked: /srv/app/state.db\n1 failed' }), report({})];
    const holder = { pid: 4242, argv: ['python', '-m', 'pytest', '--token=abc123'], ageS: 7300, via: 'lock' as const };
    const deps = { clock, log, findLockHolders: async () => [holder], knownAs: () => 'leftover' as const };
    const gate = new MergeGate(options({ mergeInfraRetryMax: 1 }), { ...deps, run: async () => results.shift()! });
    const first = gate.enqueue(request('api'));
    await gate.idle();
    const run1 = gate.get(first.id)!;
    const second = gate.get(run1.requeuedAs!)!;
    expect([run1.outcome, run1.decision, second.outcome, second.decision]).toEqual(['lock_busy', 'requeue', 'pass', 'merge']);
    expect(run1.lockHolders).toEqual([
      { pid: 4242, cmdline: 'python -m pytest --token=***', ageS: 7300, knownAs: 'leftover', via: 'lock' },
    ]);

    const alerts: Signal[] = [];
    const locked = new MergeGate(options({ mergeInfraRetryMax: 1 }), {
      ...deps,
      run: async () => report({ returncode: 1, stderr: 'database is locked' }),
      onExhausted: (s) => alerts.push(s),
    });
    locked.enqueue(request('api'));
    await locked.idle();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.detail).toMatch(/2 busy locks/);
    expect(alerts[0]!.detail).toMatch(/Lock held by 4242 \(python -m pytest --token=\*\*\*, 2 h 1 min, leftover\)/);
    expect(alerts[0]!.detail).toMatch(/Stop them: POST \/proc\/candidates\/4242\/terminate, kill 4242/);
  });

  it('WATCHDOG_MERGE_INFRA_REQUEUE=false: a timeout rolls back and nothing is re-queued', async () => {
    const gate = new MergeGate(options({ mergeInfraRequeue: false }), {
      clock,
      log,
      run: async () => report({ returncode: null, signal: 'SIGTERM', timed_out: true }),
    });
    const run = gate.enqueue(request('api'));
    await gate.idle();
    expect(gate.get(run.id)).toMatchObject({ outcome: 'timeout', decision: 'rollback' });
    expect(gate.get(run.id)!.requeuedAs).toBeUndefined();
    expect(gate.counters()).toMatchObject({ runsTotal: 1, infraRequeues: 0 });
  });

  it('HEAD already validated -> skipped/merge, and nothing is run', async () => {
    let runs = 0;
    const gate = new MergeGate(options(), {
      clock,
      log,
      run: async () => {
        runs += 1;
        return report({});
      },
      isHeadValidated: async (_cwd, sha) => sha === 'a'.repeat(40),
    });
    const skipped = gate.enqueue(request('a', 'main', { validatedSha: 'a'.repeat(40) }));
    const ran = gate.enqueue(request('b', 'main', { validatedSha: 'b'.repeat(40) }));
    await gate.idle();
    expect([gate.get(skipped.id)!.outcome, gate.get(skipped.id)!.decision, gate.get(ran.id)!.outcome]).toEqual([
      'skipped',
      'merge',
      'pass',
    ]);
    expect(runs).toBe(1);
    expect(gate.counters().outcomes.skipped).toBe(1);
  });

  it('WATCHDOG_MERGE_SKIP_WHEN_CURRENT=false always runs', async () => {
    let runs = 0;
    const gate = new MergeGate(options({ mergeSkipWhenCurrent: false }), {
      clock,
      log,
      run: async () => {
        runs += 1;
        return report({});
      },
      isHeadValidated: async () => true,
    });
    gate.enqueue(request('a', 'main', { validatedSha: 'a'.repeat(40) }));
    await gate.idle();
    expect(runs).toBe(1);
  });
});

describe('bounded queue and history (issue 14: 1,000 queued requests took 1.26 GB)', () => {
  it('429 material: per repo and overall bounds refuse new requests; a finished run frees its place', async () => {
    const runner = manualRunner();
    const gate = new MergeGate(options({ maxQueuedPerRepo: 2, maxQueued: 3 }), { clock, log, run: runner.run });
    gate.enqueue(request('a')); // runs at once
    gate.enqueue(request('a'));
    gate.enqueue(request('a'));
    expect(() => gate.enqueue(request('a'))).toThrow(QueueFull);
    gate.enqueue(request('b'));
    expect(() => gate.enqueue(request('c'))).toThrow(/3 re-tests are queued \(at most 3\)/);
    runner.started[0]!.finish(report({}));
    await waitFor('the next a started', () => runner.started.length === 2);
    expect(gate.enqueue(request('c')).status).toBe('queued');
  });

  it('keeps the newest finished runs, forgets the oldest', async () => {
    const gate = new MergeGate(options({ historyMax: 5 }), { clock, log, run: async () => report({}) });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      ids.push(gate.enqueue(request(`r${i}`)).id);
      await gate.idle();
    }
    expect(gate.get(ids[0]!)).toBeUndefined();
    expect(gate.get(ids[11]!)?.status).toBe('done');
    expect(ids.filter((id) => gate.get(id)).length).toBeLessThanOrEqual(6);
  });
});

describe('cancel', () => {
  it('a queued run is dropped: outcome cancelled, counted, no decision, not infra; the queue moves on', async () => {
    const runner = manualRunner();
    const gate = new MergeGate(options(), { clock, log, run: runner.run });
    gate.enqueue(request('a'));
    const queued = gate.enqueue(request('b'));
    const answer = await gate.cancel(queued.id);
    expect(answer).toMatchObject({ kind: 'cancelled', run: { status: 'done', outcome: 'cancelled' } });
    expect(gate.get(queued.id)!.decision).toBeUndefined();
    expect(await gate.cancel(queued.id)).toMatchObject({ kind: 'done' });
    expect(await gate.cancel('no-such-id')).toEqual({ kind: 'unknown' });
    runner.started[0]!.finish(report({}));
    await gate.idle();
    expect(runner.names()).toEqual(['a']);
    expect(gate.counters()).toMatchObject({
      runsTotal: 2,
      queued: 0,
      infraRequeues: 0,
      outcomes: { pass: 1, cancelled: 1, timeout: 0, infra: 0 },
    });
  });

  it('a running re-test is killed, whole tree, like a timeout: outcome cancelled', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'owd-cancel-'));
    const gate = new MergeGate(options(), { clock, log });
    const script = `sh -c 'echo $$ > ${dir}/child.pid; exec sleep 60' & echo $$ > ${dir}/leader.pid; wait`;
    const run = gate.enqueue(request('a', 'main', { command: ['/bin/sh', '-c', script] }));
    await waitFor('the tree is up', () => existsSync(join(dir, 'child.pid')) && existsSync(join(dir, 'leader.pid')));
    const answer = await gate.cancel(run.id);
    expect(answer).toMatchObject({ kind: 'cancelled', run: { status: 'done', outcome: 'cancelled' } });
    expect(survivors(dir)).toEqual([]);
    expect(gate.counters()).toMatchObject({ running: 0, runsTotal: 1, outcomes: { cancelled: 1, timeout: 0 } });
  });
});

describe('shutdown', () => {
  it('close() kills the running re-test (whole tree), marks it repost (nothing re-queues it), starts nothing new', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'owd-close-'));
    const gate = new MergeGate(options(), { clock, log });
    const script = `sh -c 'echo $$ > ${dir}/child.pid; exec sleep 60' & echo $$ > ${dir}/leader.pid; wait`;
    const running = gate.enqueue(request('a', 'main', { command: ['/bin/sh', '-c', script] }));
    const queued = gate.enqueue(request('b'));
    await waitFor('the tree is up', () => existsSync(join(dir, 'child.pid')) && existsSync(join(dir, 'leader.pid')));
    await gate.close();
    expect(gate.get(running.id)).toMatchObject({ status: 'done', outcome: 'timeout', decision: 'repost' });
    expect(gate.get(running.id)!.requeuedAs).toBeUndefined();
    expect(gate.get(queued.id)?.status).toBe('queued');
    expect(survivors(dir)).toEqual([]);
    expect(gate.counters().infraRequeues).toBe(0);
    // no cgroup left behind by this process
    const support = await defaultKillEnvironment().cgroups.detect();
    if (!support.ok) throw new Error(support.reason);
    expect(existsSync(support.parent)).toBe(false);
  });
});
