import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { compileLockPatterns } from '../../src/merge-gate/classify.js';
import { MergeGate, type MergeGateOptions } from '../../src/merge-gate/gate.js';
import { defaultKillEnvironment, type RunOptions, type RunReport } from '../../src/merge-gate/runner.js';
import type { ProcResult, RetestRequest } from '../../src/merge-gate/types.js';
import type { Signal } from '../../src/watchdog/signal.js';
import { survivors } from '../support/adversarial.js';

const log = createLogger({ level: 'silent' });
const clock = () => Date.parse('2026-11-22T12:00:00Z');
const options = (o: Partial<MergeGateOptions> = {}): MergeGateOptions => ({
  maxParallel: 1,
  retryMax: 3,
  skipWhenCurrent: true,
  defaultTimeoutS: 900,
  graceS: 0.3,
  treeKill: true,
  lockPatterns: compileLockPatterns(['database is locked']),
  locale: 'en',
  ...o,
});
const request = (repo: string, branch = 'main', extra: Partial<RetestRequest> = {}): RetestRequest => ({
  repo,
  branch,
  cwd: tmpdir(),
  command: ['true', repo],
  ...extra,
});
const report = (fields: Partial<ProcResult>): RunReport => ({
  result: { returncode: 0, signal: null, stdout: '', stderr: '', timed_out: false, duration_s: 0.1, ...fields },
  strategy: 'cgroup',
  subreaperKind: null,
  degradedReason: null,
  aborted: false,
  spawnError: null,
  kill: null,
  leftoverCount: 0,
  killedByGate: false,
  oomKilled: false,
  receipt: { strategy: 'cgroup', processes: [], confirmedDead: 0, survivors: [] },
});

/** A runner the test finishes by hand: the order and overlap of runs become observable. */
function manualRunner() {
  const started: { opts: RunOptions; finish: (r: RunReport) => void }[] = [];
  let running = 0;
  let maxRunning = 0;
  const run = (opts: RunOptions) =>
    new Promise<RunReport>((resolve) => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      started.push({
        opts,
        finish: (r) => {
          running -= 1;
          resolve(r);
        },
      });
    });
  return { run, started, maxRunning: () => maxRunning, names: () => started.map((s) => s.opts.command[1]) };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('queue order: FIFO per repo, one run per repo, WATCHDOG_MERGE_MAX_PARALLEL across repos', () => {
  it('default 1: re-tests run one after another, in arrival order, so they never starve each other', async () => {
    const runner = manualRunner();
    const gate = new MergeGate(options(), { clock, log, run: runner.run });
    const ids = ['a', 'b', 'a', 'c'].map((repo) => gate.enqueue(request(repo)).id);
    expect(gate.counters()).toMatchObject({ running: 1, queued: 3 });
    for (let i = 0; i < 4; i++) {
      await tick();
      runner.started[i]!.finish(report({}));
    }
    await gate.idle();
    expect(runner.names()).toEqual(['a', 'b', 'a', 'c']);
    expect(runner.maxRunning()).toBe(1);
    expect(ids.map((id) => gate.get(id)?.status)).toEqual(['done', 'done', 'done', 'done']);
  });

  it('parallel 2: two repos at once, but never two runs of the same repo', async () => {
    const runner = manualRunner();
    const gate = new MergeGate(options({ maxParallel: 2 }), { clock, log, run: runner.run });
    for (const repo of ['a', 'a', 'b', 'c']) gate.enqueue(request(repo));
    await tick();
    expect(runner.names()).toEqual(['a', 'b']);
    expect(gate.counters()).toMatchObject({ running: 2, queued: 2 });
    runner.started[0]!.finish(report({}));
    await tick();
    // the second "a" arrived before "c": it goes next
    expect(runner.names()).toEqual(['a', 'b', 'a']);
    runner.started[1]!.finish(report({}));
    await tick();
    expect(runner.names()).toEqual(['a', 'b', 'a', 'c']);
    runner.started[2]!.finish(report({}));
    runner.started[3]!.finish(report({}));
    await gate.idle();
    expect(runner.maxRunning()).toBe(2);
  });

  it('a re-test never sees the watchdog\'s secrets (WATCHDOG_* are not passed on)', async () => {
    process.env.WATCHDOG_API_TOKEN = 'sekret-token';
    try {
      const runner = manualRunner();
      const gate = new MergeGate(options(), { clock, log, run: runner.run });
      gate.enqueue(request('a'));
      await tick();
      runner.started[0]!.finish(report({}));
      await gate.idle();
      const env = runner.started[0]!.opts.env!;
      expect(Object.keys(env).filter((k) => k.startsWith('WATCHDOG_'))).toEqual([]);
      expect(env.PATH).toBe(process.env.PATH);
    } finally {
      delete process.env.WATCHDOG_API_TOKEN;
    }
  });

  it('each run gets its own timeout (or the default) and the configured grace', async () => {
    const runner = manualRunner();
    const gate = new MergeGate(options({ defaultTimeoutS: 900, graceS: 5 }), { clock, log, run: runner.run });
    gate.enqueue(request('a', 'main', { timeout_s: 60 }));
    gate.enqueue(request('b'));
    await tick();
    runner.started[0]!.finish(report({}));
    await tick();
    runner.started[1]!.finish(report({}));
    await gate.idle();
    expect(runner.started.map((s) => [s.opts.timeoutMs, s.opts.graceMs, s.opts.treeKill])).toEqual([
      [60_000, 5000, true],
      [900_000, 5000, true],
    ]);
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
    expect(gate.counters()).toMatchObject({ runs_total: 3, outcomes: { pass: 1, red: 1, other: 1, timeout: 0 } });
  });

  it('an infra timeout is re-queued as the next attempt (not rolled back), until the budget runs out: one alert', async () => {
    const alerts: Signal[] = [];
    const gate = new MergeGate(options({ retryMax: 2 }), {
      clock,
      log,
      run: async () => report({ returncode: null, signal: 'SIGTERM', timed_out: true }),
      onExhausted: (s) => alerts.push(s),
    });
    const first = gate.enqueue(request('api', 'feat-x'));
    await gate.idle();
    const chain = [gate.get(first.id)!];
    while (chain.at(-1)!.requeued_as) chain.push(gate.get(chain.at(-1)!.requeued_as!)!);
    expect(chain.map((r) => [r.attempt, r.outcome, r.decision])).toEqual([
      [1, 'timeout', 'requeue'],
      [2, 'timeout', 'requeue'],
      [3, 'timeout', 'exhausted'],
    ]);
    expect(chain[1]!.previous_id).toBe(chain[0]!.id);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ family: 'merge_gate_exhausted', entity: 'api@feat-x', key: 'merge_gate_exhausted:api@feat-x', active: true, severity: 'critical' });
    expect(gate.counters()).toMatchObject({ runs_total: 3, infra_requeues: 2, infra_exhausted: 1, outcomes: { timeout: 3 } });
  });

  it('lock_busy is infra too; a pass after it merges and resets the budget', async () => {
    const results = [report({ returncode: 1, stderr: 'database is locked' }), report({})];
    const gate = new MergeGate(options({ retryMax: 1 }), { clock, log, run: async () => results.shift()! });
    const first = gate.enqueue(request('api'));
    await gate.idle();
    const second = gate.get(gate.get(first.id)!.requeued_as!)!;
    expect([gate.get(first.id)!.outcome, gate.get(first.id)!.decision, second.outcome, second.decision]).toEqual(['lock_busy', 'requeue', 'pass', 'merge']);
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
    const skipped = gate.enqueue(request('a', 'main', { validated_sha: 'a'.repeat(40) }));
    const ran = gate.enqueue(request('b', 'main', { validated_sha: 'b'.repeat(40) }));
    await gate.idle();
    expect([gate.get(skipped.id)!.outcome, gate.get(skipped.id)!.decision, gate.get(ran.id)!.outcome]).toEqual(['skipped', 'merge', 'pass']);
    expect(runs).toBe(1);
    expect(gate.counters().outcomes.skipped).toBe(1);
  });

  it('WATCHDOG_MERGE_SKIP_WHEN_CURRENT=false always runs', async () => {
    let runs = 0;
    const gate = new MergeGate(options({ skipWhenCurrent: false }), {
      clock,
      log,
      run: async () => {
        runs += 1;
        return report({});
      },
      isHeadValidated: async () => true,
    });
    gate.enqueue(request('a', 'main', { validated_sha: 'a'.repeat(40) }));
    await gate.idle();
    expect(runs).toBe(1);
  });
});

describe('bounded history', () => {
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

describe('shutdown', () => {
  it('close() kills the running re-test (whole tree), marks it for re-posting, starts nothing new', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'owd-close-'));
    const gate = new MergeGate(options(), { clock, log });
    const script = `sh -c 'echo $$ > ${dir}/child.pid; exec sleep 60' & echo $$ > ${dir}/leader.pid; wait`;
    const running = gate.enqueue(request('a', 'main', { command: ['/bin/sh', '-c', script] }));
    const queued = gate.enqueue(request('b'));
    for (let i = 0; i < 200 && !existsSync(join(dir, 'child.pid')); i++) await tick();
    await gate.close();
    expect(gate.get(running.id)).toMatchObject({ status: 'done', outcome: 'timeout', decision: 'requeue' });
    expect(gate.get(queued.id)?.status).toBe('queued');
    expect(survivors(dir)).toEqual([]);
    expect(gate.counters().infra_requeues).toBe(0);
    // no cgroup left behind by this process
    const support = await defaultKillEnvironment().cgroups.detect();
    if (!support.ok) throw new Error(support.reason);
    expect(existsSync(support.parent)).toBe(false);
  });
});
