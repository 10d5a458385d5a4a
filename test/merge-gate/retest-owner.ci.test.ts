import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLive, PYTEST, PytestLab } from '../support/pytest-suite.js';
import { userOwnedDir } from '../support/merge-gate.js';
import { getJson, postJson, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { waitFor } from '../support/wait-for.js';

/** 0.02 min = 1.2 s: the re-test is older than the alert age within seconds */
const AGE_MIN = '0.02';
const TIMEOUT_S = 30;
/** Long enough for several ticks to judge the re-test once it is past its timeout and still alive. */
const GRACE_S = 20;

/** Ignores the gate's SIGTERM, so it outlives its timeout until the SIGKILL after the grace. */
const HOLDING_TEST = [
  'import signal, time',
  '',
  'def test_holds():',
  '    signal.signal(signal.SIGTERM, signal.SIG_IGN)',
  '    time.sleep(600)',
  '',
].join('\n');

interface Candidate {
  pid: number;
  age_s: number;
  blocking: boolean;
  run_pid: number;
  owner: { kind: string; id?: string } | null;
}

const TOKEN = 'retest-owner-token';
let server: ServerProcess;
let checkout = '';
const lab = new PytestLab();

const candidates = async (): Promise<Candidate[]> => (await getJson<{ candidates: Candidate[] }>(server, '/proc/candidates')).candidates;
const activeKeys = async (): Promise<string[]> =>
  (await getJson<{ signals: { key: string; active: boolean }[] }>(server, '/signals')).signals.filter((s) => s.active).map((s) => s.key);
const alertingKeys = async (): Promise<string[]> =>
  (await getJson<{ states: { key: string; alerting: boolean }[] }>(server, '/alert-states')).states
    .filter((s) => s.alerting)
    .map((s) => s.key);
const tickCount = async (): Promise<number> => (await getJson<{ tick_count: number }>(server, '/healthz')).tick_count;
const runOf = (id: string): Promise<{ status: string; outcome?: string }> => getJson(server, `/merge-gate/retests/${id}`);

beforeAll(async () => {
  // a checkout owned by an ordinary user: the re-test runs as that user, as the orchestrator's do
  checkout = userOwnedDir('owd-retest-owner-');
  writeFileSync(join(checkout, 'test_holds.py'), HOLDING_TEST);
  server = await startServerProcess({
    LOG_LEVEL: 'info',
    WATCHDOG_API_TOKEN: TOKEN,
    WATCHDOG_TICK_S: '0.5',
    WATCHDOG_PROC_ENABLED: 'true',
    WATCHDOG_PROC_AGE_MIN: AGE_MIN,
    WATCHDOG_KILL_GRACE_S: String(GRACE_S),
    WATCHDOG_NOTIFIERS: 'log',
    // the suite itself loads the machine: the gate must not hold the re-test for pressure
    WATCHDOG_MERGE_MAX_CPU_PRESSURE: '100',
  });
});

afterAll(async () => {
  lab.cleanup();
  await server?.stop();
  if (checkout) rmSync(checkout, { recursive: true, force: true });
});

describe("the merge gate's own re-test, seen by the /proc scan of the real server", () => {
  it(
    'inside its timeout it is owned by the re-test, never blocking, never alerted, never terminated; past its timeout the usual rules apply',
    { timeout: 240_000 },
    async () => {
      const posted = await postJson(server, '/merge-gate/retests', TOKEN, {
        repo: 'owner-repo',
        branch: 'main',
        cwd: checkout,
        command: [PYTEST, '-q', '-p', 'no:cacheprovider', 'test_holds.py'],
        timeout_s: TIMEOUT_S,
      });
      expect(posted.status).toBe(202);
      const id = ((await posted.json()) as { id: string }).id;

      // 1. Inside the timeout and older than WATCHDOG_PROC_AGE_MIN: listed with its owner, not blocking.
      const ownPid = (await lab.pytestBelow(server.child.pid!)).pid;
      const thresholdS = Number(AGE_MIN) * 60;
      let seen: Candidate[] = [];
      await waitFor(
        'the re-test older than the alert age in /proc/candidates',
        async () => {
          seen = (await candidates()).filter((c) => c.run_pid === ownPid);
          return seen.some((c) => c.pid === ownPid && c.age_s >= thresholdS + 1);
        },
        { timeoutMs: 60_000, describe: () => JSON.stringify(seen) },
      );
      expect((await runOf(id)).status).toBe('running');
      const ticksThen = await tickCount();
      await waitFor('three more ticks', async () => (await tickCount()) >= ticksThen + 3, { timeoutMs: 30_000 });
      const insideRun = (await candidates()).filter((c) => c.run_pid === ownPid);
      expect(insideRun.map((c) => c.pid)).toContain(ownPid);
      for (const c of insideRun) expect(c).toMatchObject({ owner: { kind: 'retest', id }, blocking: false });
      expect(await activeKeys()).not.toContain(`proc_blocking:${ownPid}`);
      expect(await alertingKeys()).not.toContain(`proc_blocking:${ownPid}`);

      // 2. Terminate is refused with the reason; the re-test goes on.
      const refused = await postJson(server, `/proc/candidates/${ownPid}/terminate`, TOKEN);
      expect(refused.status).toBe(409);
      const why = (await refused.json()) as { error: string; message: string };
      expect(why.error).toBe('retest_running');
      expect(why.message).toContain(id);
      expect(isLive(ownPid)).toBe(true);
      expect((await runOf(id)).status).toBe('running');

      // 3. Past its timeout it ignores the SIGTERM and lives through the grace: blocking, alerted like any other.
      await waitFor(
        'the re-test past its timeout to be blocking and alerted',
        async () => {
          seen = (await candidates()).filter((c) => c.pid === ownPid);
          return seen.some((c) => c.blocking && c.owner?.id === id) && (await alertingKeys()).includes(`proc_blocking:${ownPid}`);
        },
        { timeoutMs: (TIMEOUT_S + GRACE_S) * 1000, describe: () => JSON.stringify(seen) },
      );
      expect(isLive(ownPid)).toBe(true);

      // 4. The gate's SIGKILL ends it: a timeout, and nothing of it survives.
      await waitFor('the run to end', async () => (await runOf(id)).status === 'done', {
        timeoutMs: (GRACE_S + 60) * 1000,
      });
      expect(await runOf(id)).toMatchObject({ outcome: 'timeout' });
      expect(isLive(ownPid)).toBe(false);
    },
  );
});
