import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { MergeGate } from '../../src/merge-gate/gate.js';
import { parseGateSnapshot } from '../../src/merge-gate/gate-state.js';
import { DropLog } from '../../src/watchdog/restore-entries.js';
import { capturedLog } from '../support/notify.js';
import { CgroupManager } from '../../src/runner/cgroup.js';
import { KillEnvironment } from '../../src/runner/launch.js';
import { procState, survivors } from '../support/adversarial.js';
import { privateCgroupBase } from '../support/cgroup.js';
import { gateOptions as options, manualRunner, retestRequest as request, runReport as report } from '../support/merge-gate.js';
import { waitFor } from '../support/wait-for.js';

const log = createLogger({ level: 'silent' });
const clock = () => Date.parse('2026-12-01T12:00:00Z');

// Runs and the stale-run cleanup at restore stay in a private cgroup: another test file's
// watchdog killed -9 is that file's to clean up.
let killEnv: KillEnvironment;
let removeCgroup: (() => void) | undefined;
beforeAll(async () => {
  const { base, remove } = await privateCgroupBase();
  removeCgroup = remove;
  killEnv = new KillEnvironment('/proc', new CgroupManager('/proc', process.pid, undefined, base));
});
afterAll(async () => {
  await killEnv.cgroups.dispose();
  removeCgroup?.();
});

const survivorState = (pid: number): string => (['Z', 'X', null].includes(procState(pid)) ? 'gone' : 'alive');

/** What the state store does: snapshot, through JSON (the file), into a fresh gate. */
const carry = (from: MergeGate, to: MergeGate): void => {
  const saved = JSON.parse(JSON.stringify(from.stateSection().snapshot())) as unknown;
  to.stateSection().restore(saved, { stalePids: [] });
};

describe('merge-gate state section (WATCHDOG_STATE_FILE)', () => {
  it('shutdown kills the running re-test (whole tree), re-queues that attempt (requeue + requeued_as), and the next start runs it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'owd-gate-state-'));
    const first = new MergeGate(options(), { clock, log, killEnv });
    first.stateSection();
    const script = `sh -c 'echo $$ > ${dir}/child.pid; exec sleep 60' & echo $$ > ${dir}/leader.pid; wait`;
    const cut = first.enqueue(request('a', 'main', { command: ['/bin/sh', '-c', script] }));
    const waiting = first.enqueue(request('b'));
    await waitFor('the tree is up', () => existsSync(join(dir, 'child.pid')) && existsSync(join(dir, 'leader.pid')));
    await first.close();
    const cutRun = first.get(cut.id)!;
    expect(cutRun).toMatchObject({ status: 'done', outcome: 'timeout', decision: 'requeue' });
    expect(cutRun.requeuedAs).toEqual(expect.any(String));
    expect(first.get(cutRun.requeuedAs!)).toMatchObject({ status: 'queued', attempt: 1, previousId: cut.id });
    expect(survivors(dir)).toEqual([]);
    // not a verdict on the branch: nothing counted
    expect(first.counters()).toMatchObject({ runsTotal: 0, infraRequeues: 0, queued: 2 });

    const runner = manualRunner();
    const second = new MergeGate(options(), { clock, log, killEnv, run: runner.run });
    carry(first, second);
    await waitFor('the re-queued attempt started', () => runner.started.length === 1);
    expect(runner.started[0]!.opts.command).toEqual(['/bin/sh', '-c', script]);
    runner.started[0]!.finish(report({}));
    await waitFor('the queued one started', () => runner.started.length === 2);
    expect(runner.names()[1]).toBe('b');
    runner.started[1]!.finish(report({ returncode: 1 }));
    await second.idle();
    // the old ids still answer, and the chain reads through the restart
    expect(second.get(cut.id)).toMatchObject({ decision: 'requeue', requeuedAs: cutRun.requeuedAs });
    expect(second.get(cutRun.requeuedAs!)).toMatchObject({ status: 'done', outcome: 'pass', decision: 'merge' });
    expect(second.get(waiting.id)).toMatchObject({ status: 'done', outcome: 'red', decision: 'rollback' });
    expect(second.counters()).toMatchObject({ runsTotal: 2, queued: 0, running: 0, outcomes: { pass: 1, red: 1 } });
    await second.close();
  });

  it('a run saved while running (the watchdog was killed -9) ends as interrupted and its attempt runs again', async () => {
    const held = manualRunner();
    const crashed = new MergeGate(options(), { clock, log, killEnv, run: held.run });
    crashed.stateSection();
    const run = crashed.enqueue(request('a'));
    await waitFor('it runs', () => held.started.length === 1);
    // the periodic write while it ran is all a kill -9 leaves
    const runner = manualRunner();
    const next = new MergeGate(options(), { clock, log, killEnv, run: runner.run });
    carry(crashed, next);
    expect(next.get(run.id)).toMatchObject({ status: 'done', outcome: 'timeout', decision: 'requeue' });
    const again = next.get(run.id)!.requeuedAs!;
    await waitFor('the attempt runs again', () => runner.started.length === 1);
    runner.started[0]!.finish(report({}));
    await next.idle();
    expect(next.get(again)).toMatchObject({ outcome: 'pass', attempt: 1, previousId: run.id });
    held.started[0]!.finish(report({}));
    await crashed.idle();
  });

  it('a tree saved without a cgroup (the subreaper holds it, as in most containers) is ended by its root (pid, starttime), the setsid member too, before the attempt runs again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'owd-gate-orphan-'));
    const noCgroup = new KillEnvironment('/proc', new CgroupManager('/proc', process.pid, undefined, join(dir, 'no-cgroup')));
    // the crashed watchdog's own verdict on its run must not start it again (no infra re-queue)
    const crashed = new MergeGate(options({ mergeInfraRequeue: false }), { clock, log, killEnv: noCgroup });
    crashed.stateSection();
    const script = `setsid sh -c 'echo $$ > ${dir}/escaped.pid; exec sleep 600' & echo $$ > ${dir}/leader.pid; wait`;
    crashed.enqueue(request('a', 'main', { command: ['/bin/sh', '-c', script] }));
    await waitFor('the tree is up', () => existsSync(join(dir, 'escaped.pid')) && existsSync(join(dir, 'leader.pid')));
    // the periodic write while it ran is all a kill -9 leaves
    const saved = JSON.parse(JSON.stringify(crashed.stateSection().snapshot())) as { jobs: { tree?: unknown }[] };
    const runner = manualRunner();
    const next = new MergeGate(options(), { clock, log, killEnv: noCgroup, run: runner.run });
    next.stateSection().restore(saved, { stalePids: [] });
    await waitFor('the attempt runs again', () => runner.started.length === 1, { timeoutMs: 30_000 });
    expect(survivors(dir)).toEqual([]);
    expect(saved.jobs[0]!.tree).toEqual({
      cgroup: null,
      root: { pid: expect.any(Number), startTicks: expect.any(Number) },
      boot: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
    });
    runner.started[0]!.finish(report({}));
    await next.idle();
    await crashed.close();
  });

  it.each([
    [
      'is not the leader of its own session (a re-test root always is)',
      false,
      () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
    ],
    ['was saved in another boot (same pid and starttime, another process)', true, () => '00000000-0000-4000-8000-000000000000'],
  ])('a saved tree whose root %s is left alone', async (_why, detached, boot) => {
    const bystander = spawn('sleep', ['600'], { detached, stdio: 'ignore' });
    try {
      const stat = readFileSync(`/proc/${bystander.pid}/stat`, 'utf8');
      const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
      const runner = manualRunner();
      const first = new MergeGate(options(), { clock, log, killEnv, run: runner.run });
      first.stateSection();
      const run = first.enqueue(request('a'));
      await waitFor('it runs', () => runner.started.length === 1);
      const saved = JSON.parse(JSON.stringify(first.stateSection().snapshot())) as { jobs: { runId: string; tree?: unknown }[] };
      saved.jobs[0]!.tree = { cgroup: null, root: { pid: bystander.pid, startTicks }, boot: boot() };
      const runner2 = manualRunner();
      const next = new MergeGate(options(), { clock, log, killEnv, run: runner2.run });
      next.stateSection().restore(saved, { stalePids: [] });
      await waitFor('the attempt runs again', () => runner2.started.length === 1);
      expect(next.get(run.id)).toMatchObject({ outcome: 'timeout', decision: 'requeue' });
      expect(survivorState(bystander.pid!)).toBe('alive');
      runner.started[0]!.finish(report({}));
      runner2.started[0]!.finish(report({}));
      await Promise.all([first.idle(), next.idle()]);
    } finally {
      bystander.kill('SIGKILL');
    }
  });

  it('counters and the infra re-queue ledger carry over: the retry budget is not reset by a restart', async () => {
    const runner = manualRunner();
    const first = new MergeGate(options({ mergeInfraRetryMax: 2 }), { clock, log, killEnv, run: runner.run });
    first.stateSection();
    first.enqueue(request('a', 'feat'));
    for (let i = 0; i < 2; i++) {
      await waitFor(`attempt ${i + 1}`, () => runner.started.length === i + 1);
      runner.started[i]!.finish(report({ returncode: null, signal: 'SIGKILL', timed_out: true }, { killedByGate: true }));
    }
    await waitFor('attempt 3 started', () => runner.started.length === 3);
    await first.close(); // attempt 3 is cut by the shutdown: re-queued for the next start
    const runner2 = manualRunner();
    const exhausted: string[] = [];
    const second = new MergeGate(options({ mergeInfraRetryMax: 2 }), {
      clock,
      log,
      killEnv,
      run: runner2.run,
      onExhausted: (s) => exhausted.push(s.key),
    });
    carry(first, second);
    expect(second.counters()).toMatchObject({ runsTotal: 2, infraRequeues: 2, outcomes: { timeout: 2 } });
    await waitFor('attempt 3 runs after the restart', () => runner2.started.length === 1);
    runner2.started[0]!.finish(report({ returncode: null, signal: 'SIGKILL', timed_out: true }, { killedByGate: true }));
    await second.idle();
    // two re-queues were spent before the restart: the third timeout exhausts the branch
    expect(exhausted).toHaveLength(1);
    expect(second.counters()).toMatchObject({ runsTotal: 3, infraExhausted: 1 });
  });

  it('a saved re-test whose account is refused now ends repost instead of running as the watchdog', async () => {
    const runner = manualRunner();
    const first = new MergeGate(options(), { clock, log, killEnv, run: runner.run });
    first.stateSection();
    first.enqueue(request('a'));
    const queued = first.enqueue(request('b'));
    await first.close();
    // restarted with root refused: /tmp is root-owned, so b may no longer run
    const second = new MergeGate(options({ mergeAllowRoot: false }), { clock, log, killEnv, run: manualRunner().run });
    carry(first, second);
    expect(second.get(queued.id)).toMatchObject({ status: 'done', outcome: 'cancelled', decision: 'repost' });
    expect(second.counters().queued).toBe(0);
  });

  it('a section that is not one at all is refused (the store starts the gate fresh); within one, each malformed entry is dropped with its reason', () => {
    const { log, records } = capturedLog();
    const drops = new DropLog('merge-gate', log);
    const good = { jobs: [], history: [], counters: { runsTotal: 0, infraRequeues: 0, infraExhausted: 0, outcomes: {} }, ledger: [] };
    expect(parseGateSnapshot(good, drops)).toEqual({ ...good, trees: [] });
    expect(() => parseGateSnapshot(null, drops)).toThrow(/merge gate/);
    expect(() => parseGateSnapshot([], drops)).toThrow(/merge gate/);
    const run = { id: 'x', repo: 'a', branch: 'main', status: 'queued', attempt: 1, queuedAt: clock() };
    const request = { repo: 'a', branch: 'main', cwd: '/tmp', command: ['true'] };
    const parsed = parseGateSnapshot(
      {
        ...good,
        counters: { ...good.counters, runsTotal: -1 },
        history: [run, { ...run, id: 'y', queuedAt: 1e20 }],
        jobs: [
          { runId: 'x', request: { ...request, command: [] } },
          { runId: 'z', request },
        ],
        ledger: [
          ['a', 'main', 1],
          ['a', 'b', 'many'],
        ],
      },
      drops,
    );
    expect(parsed.history.map((r) => r.id)).toEqual(['x']);
    expect(parsed.counters).toBeNull();
    expect(parsed.jobs).toEqual([]);
    expect(parsed.ledger).toEqual([['a', 'main', 1]]);
    expect(records().map((r) => [r.entry, r.reason])).toEqual([
      ['history[1]', expect.stringMatching(/^queuedAt: /)],
      ['counters', expect.stringMatching(/^runsTotal: .*start at zero/)],
      ['ledger[1]', expect.stringMatching(/^2: /)],
      ['jobs[0]', expect.stringMatching(/^request\.command: must be a non-empty argv array/)],
      ['job z', 'it has no run in the history'],
    ]);
  });
});
