import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DECISIONS } from '../../src/merge-gate/types.js';
import { userOwnedDir } from '../support/merge-gate.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const CLIENT_DIR = join(ROOT, 'clients/python');
const TOKEN = 'python-client-test-token';
const REQUEUE_DELAY_S = '3';
/** Debian's interpreter with python3-pytest (scripts/test-ci.sh installs it), whatever python3 comes first in PATH. */
const PYTHON = '/usr/bin/python3';
// A service's PATH: re-tests run as an ordinary user, who cannot run an interpreter under /root (a pyenv shim: exit 126, infra).
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
// No plugins from the host's site-packages (pytest-benchmark writes .benchmarks/ into the rootdir), no bytecode in the tree.
const PYTHON_ENV = { PYTHONDONTWRITEBYTECODE: '1', PYTEST_DISABLE_PLUGIN_AUTOLOAD: '1' };

let gate: ServerProcess | undefined;
let writesOff: ServerProcess | undefined;
let checkouts = '';
let reports = '';

beforeAll(async () => {
  checkouts = userOwnedDir('owd-pyclient-');
  reports = mkdtempSync(join(tmpdir(), 'pyclient-report-'));
  const [a, b] = await Promise.allSettled([
    startServerProcess({
      WATCHDOG_API_TOKEN: TOKEN,
      PATH: SYSTEM_PATH,
      // the suite loads the machine itself: the gate must not hold these re-tests for CPU pressure
      WATCHDOG_MERGE_MAX_CPU_PRESSURE: '100',
      WATCHDOG_MERGE_REQUEUE_DELAY_S: REQUEUE_DELAY_S,
      WATCHDOG_MERGE_INFRA_RETRY_MAX: '1',
      WATCHDOG_KILL_GRACE_S: '1',
      ...PYTHON_ENV,
    }),
    startServerProcess({ WATCHDOG_API_TOKEN: '' }),
  ]);
  if (a.status === 'fulfilled') gate = a.value;
  if (b.status === 'fulfilled') writesOff = b.value;
  for (const r of [a, b]) if (r.status === 'rejected') throw r.reason;
});

afterAll(async () => {
  await Promise.all([gate?.stop(), writesOff?.stop()]);
  for (const dir of [checkouts, reports]) if (dir) rmSync(dir, { recursive: true, force: true });
});

function python(args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, { cwd, env: { ...process.env, ...PYTHON_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

const attribute = (tag: string, name: string): number => Number(new RegExp(`\\b${name}="(\\d+)"`).exec(tag)?.[1] ?? NaN);

const LITTER = ['.pytest_cache', '__pycache__', 'tests/__pycache__', '.benchmarks'];

describe('the Python client (clients/python/orch_watchdog.py) against the real server', () => {
  it(
    'passes its real pytest suite: merge, rollback, a followed re-queue, cancel, and 400/401/403/429/unreachable',
    { timeout: 240_000 },
    async () => {
      const litterBefore = LITTER.filter((p) => existsSync(join(CLIENT_DIR, p)));
      const report = join(reports, 'junit.xml');
      const { code, output } = await python(
        ['-m', 'pytest', 'clients/python/tests', '-q', '-p', 'no:cacheprovider', `--junitxml=${report}`],
        {
          ORCH_WATCHDOG_TEST_URL: gate!.address,
          ORCH_WATCHDOG_TEST_TOKEN: TOKEN,
          ORCH_WATCHDOG_TEST_URL_NO_TOKEN: writesOff!.address,
          ORCH_WATCHDOG_TEST_CHECKOUTS: checkouts,
          ORCH_WATCHDOG_TEST_REQUEUE_DELAY_S: REQUEUE_DELAY_S,
        },
        ROOT,
      );
      expect(code, `${output}\n${gate!.tail()}`).toBe(0);

      const xml = readFileSync(report, 'utf8');
      const suite = /<testsuite\b[^>]*>/.exec(xml)?.[0] ?? '';
      const counts = Object.fromEntries(['tests', 'failures', 'errors', 'skipped'].map((k) => [k, attribute(suite, k)]));
      expect(counts).toEqual({ tests: expect.any(Number), failures: 0, errors: 0, skipped: 0 });
      expect(counts.tests).toBeGreaterThanOrEqual(20);
      const ran = [...xml.matchAll(/<testcase\b[^>]*\bname="([^"]+)"/g)].map((m) => m[1]);
      expect(ran).toEqual(
        expect.arrayContaining([
          'test_the_client_parses_compiles_and_uses_nothing_newer_than_python_3_9',
          'test_a_passing_suite_merges',
          'test_a_red_suite_rolls_back',
          'test_a_timeout_is_followed_through_requeued_as_to_the_final_decision',
          'test_requeues_run_out_as_exhausted_and_can_be_watched_one_attempt_at_a_time',
          'test_cancel_kills_a_running_retest_and_a_second_cancel_conflicts',
          'test_a_bad_body_is_a_bad_request_with_the_servers_code_and_message',
          'test_a_root_owned_checkout_is_refused_as_run_as_refused',
          'test_a_wrong_token_is_an_auth_error_that_never_shows_the_token',
          'test_a_token_read_from_a_file_works_and_a_malformed_one_is_refused_without_showing_it',
          'test_a_full_queue_is_queue_full_so_the_caller_can_back_off',
          'test_a_closed_port_is_unreachable',
          'test_the_diff_applies_to_the_code_shown_before_it',
          'test_the_adopted_retest_branch_merges_a_green_branch_and_rolls_back_a_red_one',
        ]),
      );
      // The run leaves nothing in the repository tree.
      expect(LITTER.filter((p) => existsSync(join(CLIENT_DIR, p)))).toEqual(litterBefore);
    },
  );

  it('maps exactly the decisions the gate gives: merge, rollback, requeue, exhausted, repost', async () => {
    const { code, output } = await python(
      ['-c', 'import json, orch_watchdog; print(json.dumps([a.value for a in orch_watchdog.Action]))'],
      {},
      CLIENT_DIR,
    );
    expect(code, output).toBe(0);
    expect(JSON.parse(output)).toEqual([...DECISIONS]);
  });
});
