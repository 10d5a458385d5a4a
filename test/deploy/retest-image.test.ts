import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDockerd, type Dockerd } from '../support/dockerd.js';
import { commitTwice } from '../support/git-checkout.js';
import { importNodeBaseImage, NODE_BASE_IMAGE, node24Binary } from '../support/node-base-image.js';
import { freePort } from '../support/prometheus.js';
import { importPythonBaseImage, PYTHON_BASE_IMAGE } from '../support/python-base-image.js';
import { markedPids } from '../support/pytest-suite.js';
import { waitFor } from '../support/wait-for.js';
import { buildWatchdogImage, describeImage } from '../support/watchdog-image.js';

/**
 * The image built on an orchestrator's test image (BASE_IMAGE = Python with pytest, no Node),
 * running real pytest re-tests through POST /merge-gate/retests inside the container, as the
 * compose file runs it: pid: host, read-only root, every capability dropped but the three
 * run-as needs. The checkout belongs to a non-root uid (2000), as the orchestrator's do.
 */

const IMAGE = 'orch-watchdog:pytest';
const NAME = 'owd-retest-image';
const TOKEN = 'retest-image-token';
const CHECKOUT_UID = 2000;
const marker = `owdretest${process.pid}`;

let dockerd: Dockerd;
let port: number;
let checkout: string;

interface RetestRun {
  id: string;
  status: string;
  outcome?: string;
  decision?: string;
  returncode?: number | null;
  strategy?: string;
}

const api = (path: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${port}${path}`, { ...init, signal: AbortSignal.timeout(5000) });

async function retest(command: string[], timeoutS: number, validatedSha?: string): Promise<string> {
  const res = await api('/merge-gate/retests', {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      repo: 'demo',
      branch: `b-${command.at(-1)}`,
      cwd: checkout,
      command,
      timeout_s: timeoutS,
      ...(validatedSha ? { validated_sha: validatedSha } : {}),
    }),
  });
  const body = (await res.json()) as { id: string };
  expect(res.status, JSON.stringify(body)).toBe(202);
  return body.id;
}

async function finished(id: string, timeoutMs: number): Promise<RetestRun> {
  let run: RetestRun | undefined;
  await waitFor(
    `re-test ${id} done`,
    async () => {
      run = (await (await api(`/merge-gate/retests/${id}`)).json()) as RetestRun;
      return run.status === 'done';
    },
    { timeoutMs, intervalMs: 200, describe: () => JSON.stringify(run) },
  );
  return run!;
}

let validatedSha = '';
let olderSha = '';

function writeCheckout(dir: string): void {
  writeFileSync(join(dir, 'test_ok.py'), 'def test_arithmetic():\n    assert 1 + 1 == 2\n');
  // A child, and a grandchild that leaves the session (setsid) and double-forks: the tree a
  // timed-out suite leaves behind when only the direct child is killed.
  writeFileSync(
    join(dir, `test_slow_${marker}.py`),
    [
      'import subprocess, sys, time',
      `MARK = "${marker}"`,
      'def test_sleeps_past_the_budget():',
      '    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", MARK + "-child"])',
      '    escape = "import os, time\\nif os.fork() == 0:\\n    os.setsid()\\n    time.sleep(600)\\n"',
      '    subprocess.Popen([sys.executable, "-c", escape, MARK + "-daemon"])',
      '    time.sleep(600)',
      '',
    ].join('\n'),
  );
}

beforeAll(async () => {
  dockerd = await startDockerd();
  await importNodeBaseImage(dockerd);
  await importPythonBaseImage(dockerd);
  const image = await buildWatchdogImage(dockerd, IMAGE, { NODE_BASE: NODE_BASE_IMAGE, BASE_IMAGE: PYTHON_BASE_IMAGE, NODE_FROM: 'copy' });
  console.log(describeImage(image));

  checkout = mkdtempSync('/tmp/owdws-');
  writeCheckout(checkout);
  // a repository with two commits; HEAD is the one the orchestrator validated
  ({ older: olderSha, head: validatedSha } = commitTwice(checkout, ['test_ok.py']));
  execFileSync('chown', ['-R', `${CHECKOUT_UID}:${CHECKOUT_UID}`, checkout]);
  chmodSync(checkout, 0o755);

  port = await freePort();
  // prettier-ignore
  await dockerd.dockerOk([
    'run', '--detach', '--name', NAME,
    '--pid', 'host', '--network', 'host',
    '--read-only', '--tmpfs', '/tmp',
    '--cap-drop', 'ALL', '--cap-add', 'SETUID', '--cap-add', 'SETGID', '--cap-add', 'KILL',
    '--security-opt', 'no-new-privileges:true',
    // The checkout at the same path inside as outside, so the orchestrator's cwd is valid in both.
    '-v', `${checkout}:${checkout}`,
    '-e', 'WATCHDOG_HOST=127.0.0.1', '-e', `WATCHDOG_PORT=${port}`, '-e', 'WATCHDOG_TICK_S=1',
    '-e', `WATCHDOG_API_TOKEN=${TOKEN}`, '-e', 'WATCHDOG_KILL_GRACE_S=1',
    // A timeout is then final (decision exhausted) instead of re-queued, so no second attempt respawns the tree.
    '-e', 'WATCHDOG_MERGE_INFRA_RETRY_MAX=0',
    // CI may run this beside a CPU hog: the gate would rightly hold the re-tests for pressure (up to 600 s).
    '-e', 'WATCHDOG_MERGE_MAX_CPU_PRESSURE=100',
    IMAGE,
  ]);
  await waitFor('GET /healthz answering', async () => (await api('/healthz').catch(() => null))?.status === 200, {
    timeoutMs: 30_000,
    describe: () => dockerd.logTail(),
  });
}, 1_500_000);

afterAll(async () => {
  await dockerd?.stop();
  for (const pid of markedPids(marker)) process.kill(pid, 'SIGKILL');
  if (checkout) rmSync(checkout, { recursive: true, force: true });
}, 300_000);

describe('the image built on a Python test image (BASE_IMAGE)', () => {
  it("keeps the base's python, pytest and git, and brings Node, tini and the orch-watchdog CLI of its own", async () => {
    // prettier-ignore
    const r = await dockerd.docker([
      'run', '--rm', '--network', 'none', '--entrypoint', '/bin/sh', IMAGE, '-c',
      'node --version && pytest --version 2>&1 && git --version && command -v orch-watchdog && test -x /usr/local/bin/tini && echo ok',
    ]);
    expect(r.code, r.stderr).toBe(0);
    // NODE_FROM=copy: the Node of NODE_BASE, the node:24-slim stand-in.
    const baseNode = spawnSync(node24Binary(), ['--version'], { encoding: 'utf8' }).stdout;
    expect(baseNode).toMatch(/^v24\.\d+\.\d+\n$/);
    expect(r.stdout.startsWith(baseNode)).toBe(true);
    expect(r.stdout).toMatch(/pytest \d+\.\d+/);
    expect(r.stdout).toMatch(/git version \d+\.\d+/);
    expect(r.stdout).toContain('/usr/local/bin/orch-watchdog\nok');
  }, 90_000);

  it('runs `orch-watchdog run` inside the container: the CLI kills a timed-out pytest and exits 124', async () => {
    // prettier-ignore
    const r = await dockerd.docker([
      'run', '--rm', '--network', 'none', '--read-only', '--tmpfs', '/tmp', '--cap-drop', 'ALL', '--entrypoint', 'orch-watchdog', IMAGE,
      'run', '--timeout', '1', '--grace', '1', '--', 'python3', '-c', 'import time; time.sleep(60)',
    ], { timeoutMs: 60_000 });
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(124);
  }, 90_000);
});

describe('a real pytest re-test through the API of the container', () => {
  it('a passing suite is outcome pass, decision merge', async () => {
    const run = await finished(await retest(['pytest', '-q', '-p', 'no:cacheprovider', 'test_ok.py'], 120), 120_000);
    expect(run).toMatchObject({ outcome: 'pass', decision: 'merge', returncode: 0 });
  }, 180_000);

  it('validated_sha = HEAD of the checkout (owned by uid 2000) is skipped; an older sha runs the suite', async () => {
    const skipped = await finished(await retest(['pytest', '-q', '-p', 'no:cacheprovider', 'test_ok.py'], 120, validatedSha), 120_000);
    expect(skipped).toMatchObject({ outcome: 'skipped', decision: 'merge' });
    const ran = await finished(await retest(['pytest', '-q', '-p', 'no:cacheprovider', 'test_ok.py'], 120, olderSha), 120_000);
    expect(ran).toMatchObject({ outcome: 'pass', decision: 'merge', returncode: 0 });
  }, 300_000);

  it('a suite sleeping past its budget is outcome timeout, and nothing of its tree survives on the host', async () => {
    const id = await retest(['pytest', '-q', '-p', 'no:cacheprovider', `test_slow_${marker}.py`], 20);
    // The tree really exists (pytest, the child, the setsid'd daemon), so "none left" below means something.
    let seen: number[] = [];
    await waitFor(
      'the test tree running',
      () => {
        seen = markedPids(marker);
        return seen.length >= 3;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const run = await finished(id, 60_000);
    expect(run.outcome, JSON.stringify(run)).toBe('timeout');
    expect(run.decision).toBe('exhausted');
    // No waiting here: a run is only done once every member is confirmed gone.
    expect(markedPids(marker)).toEqual([]);
    const pgrep = spawnSync('pgrep', ['-f', marker], { encoding: 'utf8' });
    expect(pgrep.stdout.trim()).toBe('');
    expect(seen.length).toBeGreaterThanOrEqual(3);
  }, 180_000);
});
