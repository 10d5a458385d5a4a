import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../../src/config.js';
import { readStat } from '../../../src/proc/read-proc.js';
import type { Collector } from '../../../src/watchdog/signal.js';
import { manualClock, RecordingNotifier, testApp } from '../../support/app.js';
import { isLive, PytestLab, SLOW_TEST } from '../../support/pytest-suite.js';
import { waitFor } from '../../support/wait-for.js';

const lab = new PytestLab();
const apps: FastifyInstance[] = [];

afterEach(async () => {
  for (const app of apps.splice(0)) {
    await app.ctx.proc.stops.settle();
    await app.close();
  }
  lab.cleanup();
});

interface CandidateJson {
  pid: number;
  match: string;
  run_pid: number;
  blocking: boolean;
  orphaned: boolean;
  owner: unknown;
  locks: { path: string; kind: string }[];
  ports: number[];
}

async function watchdog(over: Partial<Config> = {}) {
  const notifier = new RecordingNotifier();
  // a second ahead of now: everything the test started is older than the 30 ms alert age
  const clock = manualClock(Date.now() + 1000);
  const viaApp: Collector = { name: 'proc', collect: (ctx) => app.ctx.proc.collect(ctx) };
  const app = await testApp(
    // a cold first scan of a loaded CI host can outlast the default 7 s collector budget
    {
      procEnabled: true,
      procRoot: '/proc',
      procPatterns: ['pytest'],
      procMatch: 'program',
      procAgeMin: 0.0005,
      killGraceS: 0.5,
      apiToken: 'tok',
      httpTimeoutS: 60,
      ...over,
    },
    { collectors: [viaApp], notifiers: [notifier], clock },
  );
  apps.push(app);
  const tick = async () => {
    await app.ctx.watchdog.tick();
    await app.ctx.delivery.flush(2000);
  };
  const candidates = async (): Promise<CandidateJson[]> => (await app.inject('/proc/candidates')).json().candidates;
  const mine = (pids: number[]) => notifier.actions().filter((a) => pids.some((p) => a.endsWith(`:${p}`)));
  // the last tick's active proc_blocking signals of these pids (independent of delivery under a flood)
  const activeOf = async (pids: number[]): Promise<string[]> =>
    ((await app.inject('/signals')).json().signals as { key: string; active: boolean }[])
      .filter((s) => s.active && s.key.startsWith('proc_blocking:') && pids.includes(Number(s.key.split(':')[1])))
      .map((s) => s.key);
  return { app, notifier, clock, tick, candidates, mine, activeOf };
}

describe('program matching with a real pytest (Debian python3-pytest)', () => {
  it(
    'a bash -c wrapper and its pytest are one candidate and one alert; an agent, grep, tail and an editor mentioning pytest are none',
    { timeout: 180_000 },
    async () => {
      const dir = lab.suite({ 'test_slow.py': SLOW_TEST, 'pytest.log': 'pytest log\n', 'pytest-notes.md': '# notes\n' });
      const wrapper = lab.wrapped(dir);
      const agent = lab.spawn('bash', ['-c', "exec -a claude bash -c 'sleep 120; :' -p fix-the-failing-pytest-in-tests"]);
      const grep = lab.spawn('grep', ['-r', 'pytest', '-'], { stdin: 'pipe' });
      const tail = lab.spawn('tail', ['-f', join(dir, 'pytest.log')]);
      const editor = lab.spawn('bash', ['-c', `exec -a vim bash -c 'sleep 120; :' ${join(dir, 'pytest-notes.md')}`]);
      const pytest = await lab.pytestBelow(wrapper.pid!);
      const others = [wrapper, agent, grep, tail, editor].map((c) => c.pid!);
      await waitFor('the look-alikes to run', () => others.every(isLive));

      const w = await watchdog();
      await w.tick();
      const listed = (await w.candidates()).filter((c) => [pytest.pid, ...others].includes(c.pid));
      expect(listed).toEqual([
        expect.objectContaining({
          pid: pytest.pid,
          match: 'program',
          run_pid: pytest.pid,
          blocking: true,
          owner: null,
          locks: [],
          ports: [],
        }),
      ]);
      expect(await w.activeOf([pytest.pid, ...others])).toEqual([`proc_blocking:${pytest.pid}`]);

      // WATCHDOG_PROC_MATCH=cmdline keeps the first design's rule: every look-alike matches; EXCLUDE removes one
      // (vitest itself is excluded: run as `vitest run …/pytest-runs.test.ts`, its own command line matches)
      const old = await watchdog({ procMatch: 'cmdline', procExclude: ['fix-the-failing', 'vitest'] });
      await old.tick();
      const oldPids = (await old.candidates()).map((c) => c.pid);
      for (const pid of [wrapper.pid!, pytest.pid, grep.pid!, tail.pid!, editor.pid!]) expect(oldPids).toContain(pid);
      expect(oldPids).not.toContain(agent.pid);
      // the wrapper and its pytest are still one run: one alert, for the wrapper (the run's top)
      expect(await old.activeOf([wrapper.pid!, pytest.pid])).toEqual([`proc_blocking:${wrapper.pid}`]);
      expect((await old.candidates()).find((c) => c.pid === pytest.pid)?.run_pid).toBe(wrapper.pid);
    },
  );
});

describe('a retitled process (setproctitle, exec -a: argv[0] one string with spaces)', () => {
  it('is judged by its first word: a retitled agent is no test process, a retitled pytest still is', { timeout: 120_000 }, async () => {
    const title = 'claude -p fix-the-failing-pytest-in-tests';
    // exec -a: argv[0] is the title and the real arguments follow; perl's $0 overwrites the argv memory (one element)
    const execA = lab.spawn('bash', ['-c', `exec -a '${title}' sleep 120`]);
    const perl = lab.spawn('perl', ['-e', `$0 = '${title}'; sleep 120`]);
    const pytestTitled = lab.spawn('bash', ['-c', "exec -a 'pytest -q tests/' sleep 120"]);
    const pids = [execA, perl, pytestTitled].map((c) => c.pid!);
    await waitFor('the titles to be set', () =>
      pids.every((pid) => {
        const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0')[0];
        return argv0 === title || argv0 === 'pytest -q tests/';
      }),
    );

    const w = await watchdog();
    await w.tick();
    const listed = (await w.candidates()).filter((c) => pids.includes(c.pid));
    expect(listed.map((c) => [c.pid, c.match])).toEqual([[pytestTitled.pid, 'program']]);
    expect(await w.activeOf(pids)).toEqual([`proc_blocking:${pytestTitled.pid}`]);
  });
});

describe('a shell running a script file is that script (the program rule covered Python only)', () => {
  it(
    '`bash run-pytest.sh` is the run: the script is its top, its pytest a member, and terminate stops both; a shell running another script is no candidate',
    { timeout: 180_000 },
    async () => {
      const dir = lab.suite({
        'test_slow.py': SLOW_TEST,
        'run-pytest.sh': `cd "$(dirname "$0")" && /usr/bin/pytest -q -p no:cacheprovider\n`,
        'agent-step.sh': 'sleep 120\n',
      });
      const script = lab.spawn('bash', [join(dir, 'run-pytest.sh')]);
      const agentStep = lab.spawn('bash', [join(dir, 'agent-step.sh'), 'fix', 'the', 'pytest', 'failure']);
      const pytest = await lab.pytestBelow(script.pid!);
      await waitFor('the agent step to run', () => isLive(agentStep.pid!));

      const w = await watchdog();
      await w.tick();
      const listed = (await w.candidates()).filter((c) => [script.pid, pytest.pid, agentStep.pid].includes(c.pid));
      expect(listed.map((c) => [c.pid, c.match, c.run_pid]).sort()).toEqual(
        [
          [script.pid, 'program', script.pid],
          [pytest.pid, 'program', script.pid],
        ].sort(),
      );
      expect(await w.activeOf([script.pid!, pytest.pid, agentStep.pid!])).toEqual([`proc_blocking:${script.pid}`]);

      const res = await w.app.inject({
        method: 'POST',
        url: `/proc/candidates/${script.pid}/terminate`,
        headers: { authorization: 'Bearer tok' },
      });
      expect(res.statusCode).toBe(202);
      expect(
        res
          .json<{ processes: { pid: number }[] }>()
          .processes.map((p) => p.pid)
          .sort(),
      ).toEqual([script.pid, pytest.pid].sort());
      await waitFor('the script and its pytest to be gone', () => !isLive(script.pid!) && !isLive(pytest.pid));
      expect(isLive(agentStep.pid!)).toBe(true);
    },
  );
});

describe('leftovers of a killed pytest', () => {
  it(
    'the fixture server and the setsid flock holder outlive a SIGKILLed pytest: listed with locks and ports, blocking after the grace, stopped exactly',
    { timeout: 180_000 },
    async () => {
      const { dir, wrapper, pytest, server, locker, port } = await lab.leavingRun();

      const w = await watchdog({ procLeftoverGraceS: 120 });
      await w.tick(); // the run is alive: its descendants are remembered
      expect((await w.candidates()).filter((c) => [server, locker].includes(c.pid))).toEqual([]);
      process.kill(pytest.pid, 'SIGKILL');
      await waitFor('pytest to be gone', () => !isLive(pytest.pid));

      await w.tick();
      let left = (await w.candidates()).filter((c) => c.run_pid === pytest.pid);
      expect(left.map((c) => c.pid).sort()).toEqual([server, locker].sort());
      expect(left.every((c) => c.match === 'leftover' && !c.blocking)).toBe(true);
      expect(left.find((c) => c.pid === server)?.ports).toEqual([port]);
      expect(left.find((c) => c.pid === locker)?.locks).toEqual([{ path: join(dir, 'suite.lock'), kind: 'flock write' }]);

      w.clock.advance(121_000); // past WATCHDOG_PROC_LEFTOVER_GRACE_S
      await w.tick();
      left = (await w.candidates()).filter((c) => c.run_pid === pytest.pid);
      expect(left.every((c) => c.blocking)).toBe(true);
      expect(await w.activeOf([pytest.pid])).toEqual([`proc_blocking:${pytest.pid}`]);
      const alert = ((await w.app.inject('/signals')).json().signals as { key: string; title: string; detail: string }[]).find(
        (s) => s.key === `proc_blocking:${pytest.pid}`,
      )!;
      expect(alert.title).toBe(`Test run ${pytest.pid} left 2 process(es) behind`);
      expect(alert.detail).toContain(`listens on TCP ${port}`);
      expect(alert.detail).toContain(`${join(dir, 'suite.lock')} (flock write)`);
      expect(alert.detail).toContain(`Stop them: kill -TERM ${[server, locker].sort((a, b) => a - b).join(' ')}`);

      const res = await w.app.inject({
        method: 'POST',
        url: `/proc/candidates/${server}/terminate`,
        headers: { authorization: 'Bearer tok' },
      });
      expect(res.statusCode).toBe(202);
      expect(
        res
          .json()
          .processes.map((p: { pid: number }) => p.pid)
          .sort(),
      ).toEqual([server, locker].sort());
      await waitFor('both leftovers to be gone', () => !isLive(server) && !isLive(locker));
      expect(isLive(wrapper.pid!) || wrapper.exitCode !== null).toBe(true);
    },
  );
});

describe('a merge-gate re-test', () => {
  it('inside its own timeout it is owned and never blocking; past the timeout it blocks', { timeout: 180_000 }, async () => {
    const dir = lab.suite({ 'test_slow.py': SLOW_TEST });
    const wrapper = lab.wrapped(dir);
    const pytest = await lab.pytestBelow(wrapper.pid!);
    const w = await watchdog();
    const rootStart = readStat(wrapper.pid!)!.startTicks;
    w.app.ctx.retests.register(wrapper.pid!, rootStart, 'r-1', w.clock() + 900_000);
    await w.tick();
    expect((await w.candidates()).find((c) => c.pid === pytest.pid)).toMatchObject({
      owner: { kind: 'retest', id: 'r-1' },
      blocking: false,
    });
    expect(await w.activeOf([pytest.pid])).toEqual([]);
    // the gate should have killed it at its timeout: from then on it is a blocking test process like any other
    w.clock.advance(900_001);
    await w.tick();
    expect(await w.activeOf([pytest.pid])).toEqual([`proc_blocking:${pytest.pid}`]);
  });

  it(
    'what outlives the run (the gate unregistered it) is judged by the usual rules even before the deadline',
    { timeout: 180_000 },
    async () => {
      const dir = lab.suite({ 'test_slow.py': SLOW_TEST });
      const wrapper = lab.wrapped(dir);
      const pytest = await lab.pytestBelow(wrapper.pid!);
      const w = await watchdog();
      const unregister = w.app.ctx.retests.register(wrapper.pid!, readStat(wrapper.pid!)!.startTicks, 'r-2', w.clock() + 900_000);
      await w.tick();
      expect((await w.candidates()).find((c) => c.pid === pytest.pid)).toMatchObject({
        owner: { kind: 'retest', id: 'r-2' },
        blocking: false,
      });
      unregister();
      await w.tick();
      expect((await w.candidates()).find((c) => c.pid === pytest.pid)).toMatchObject({
        owner: { kind: 'retest', id: 'r-2' },
        blocking: true,
      });
      expect(await w.activeOf([pytest.pid])).toEqual([`proc_blocking:${pytest.pid}`]);
    },
  );
});
