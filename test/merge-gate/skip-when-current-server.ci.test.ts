import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitTwice } from '../support/git-checkout.js';
import { userOwnedDir } from '../support/merge-gate.js';
import { PYTEST } from '../support/pytest-suite.js';
import { getJson, postJson, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { waitFor } from '../support/wait-for.js';

interface WireRun {
  status: string;
  outcome?: string;
  decision?: string;
  returncode?: number | null;
  run_as?: { uid: number };
}

const TOKEN = 'skip-current-token';
let server: ServerProcess;
let checkout = '';
let validated = '';
let older = '';

beforeAll(async () => {
  // the orchestrator's checkout belongs to an ordinary user (nobody), not to the watchdog's root
  checkout = userOwnedDir('owd-skip-current-');
  writeFileSync(join(checkout, 'test_ok.py'), 'def test_ok():\n    assert True\n');
  ({ older, head: validated } = commitTwice(checkout, ['test_ok.py']));
  execFileSync('chown', ['-R', '65534:65534', checkout]);
  server = await startServerProcess({
    LOG_LEVEL: 'info',
    WATCHDOG_API_TOKEN: TOKEN,
    WATCHDOG_TICK_S: '5',
    WATCHDOG_MERGE_MAX_CPU_PRESSURE: '100',
  });
});

afterAll(async () => {
  await server?.stop();
  if (checkout) rmSync(checkout, { recursive: true, force: true });
});

async function retest(validatedSha: string): Promise<WireRun> {
  const res = await postJson(server, '/merge-gate/retests', TOKEN, {
    repo: 'skip-repo',
    branch: 'main',
    cwd: checkout,
    command: [PYTEST, '-q', '-p', 'no:cacheprovider'],
    validated_sha: validatedSha,
  });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  let run: WireRun = { status: 'queued' };
  await waitFor(
    'the re-test to finish',
    async () => {
      run = await getJson<WireRun>(server, `/merge-gate/retests/${id}`);
      return run.status === 'done';
    },
    { timeoutMs: 120_000, describe: () => JSON.stringify(run) },
  );
  return run;
}

describe('skip-when-current on a checkout owned by another user, through the real server', () => {
  it('validated_sha = HEAD is skipped (HEAD read as the checkout owner); another sha runs the suite', { timeout: 300_000 }, async () => {
    expect(await retest(validated)).toMatchObject({ outcome: 'skipped', decision: 'merge', run_as: { uid: 65534 } });
    expect(await retest(older)).toMatchObject({ outcome: 'pass', decision: 'merge', returncode: 0, run_as: { uid: 65534 } });
  });
});
