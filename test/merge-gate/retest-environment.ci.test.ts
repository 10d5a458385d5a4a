import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountPath } from '../../src/runner/account.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The real server, started the way a careless parent would: secrets in its environment, root's
 * PATH led by a shim directory whose python3 cannot run for anyone else (pyenv's), and a
 * writable fd it inherited without knowing. A re-test must see none of it.
 */

const TOKEN = 'retest-env-token';
const USER = `owdenv${process.pid % 100000}`;
const SECRETS = {
  AWS_SECRET_ACCESS_KEY: 'aws-secret-owd',
  SSH_AUTH_SOCK: '/tmp/ssh-owd/agent.1',
  NODE_OPTIONS: '--max-old-space-size=512',
};
// Node itself marks fds 3..15 close-on-exec at start; one above is passed on as it came.
const INHERITED_FD = 20;

let uid = -1;
let root: string;
let checkout: string;
let shims: string;
let server: ServerProcess;
let address: string;

const sh = (cmd: string[]) => {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

async function retest(command: string[], env?: Record<string, string>): Promise<Record<string, unknown>> {
  const body = { repo: 'env', branch: `b${Math.random()}`, cwd: checkout, command, ...(env ? { env } : {}) };
  const res = await fetch(`${address}/merge-gate/retests`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const posted = (await res.json()) as { id: string };
  expect(res.status, JSON.stringify(posted)).toBe(202);
  let run: Record<string, unknown> = {};
  await waitFor(
    're-test done',
    async () => {
      run = (await (await fetch(`${address}/merge-gate/retests/${posted.id}`)).json()) as Record<string, unknown>;
      return run.status === 'done';
    },
    { timeoutMs: 60_000, intervalMs: 100, describe: () => JSON.stringify(run) },
  );
  return run;
}

/** NAME=value lines of `env` output (values here have no newline). */
const parseEnv = (text: string) =>
  Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

beforeAll(async () => {
  root = mkdtempSync('/tmp/owd-env-');
  chmodSync(root, 0o755);
  const home = join(root, 'home');
  sh(['useradd', '--home-dir', home, '--create-home', '--shell', '/bin/sh', '--user-group', USER]);
  uid = Number(sh(['id', '-u', USER]));
  // Only the account (and root) can enter the checkout.
  checkout = join(root, 'checkout');
  mkdirSync(checkout, { mode: 0o700 });
  chownSync(checkout, uid, Number(sh(['id', '-g', USER])));
  shims = join(root, 'shims');
  mkdirSync(shims, { mode: 0o755 });
  writeFileSync(join(shims, 'python3'), '#!/bin/sh\necho "root-only shim" >&2\nexit 126\n', { mode: 0o755 });

  const extra = Array.from({ length: INHERITED_FD - 2 }, (_, i) => (i + 3 === INHERITED_FD ? 'pipe' : 'ignore'));
  server = await startServerProcess(
    {
      ...SECRETS,
      PATH: `${shims}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      LANG: 'C.UTF-8',
      TZ: 'UTC',
      TERM: 'dumb',
      WATCHDOG_API_TOKEN: TOKEN,
      WATCHDOG_TICK_S: '5',
      LOG_LEVEL: 'info',
      WATCHDOG_MERGE_MAX_CPU_PRESSURE: '100',
      WATCHDOG_MERGE_INFRA_RETRY_MAX: '0',
    },
    extra,
  );
  address = server.address;
}, 90_000);

afterAll(async () => {
  await server?.stop();
  spawnSync('pkill', ['-KILL', '-u', USER]);
  spawnSync('userdel', ['--remove', USER]);
  rmSync(root, { recursive: true, force: true });
});

describe("a re-test's environment is its account's, never the watchdog's", { timeout: 120_000 }, () => {
  it("only the allowlist and the request's env, fds 0-2 only, and the account's PATH finds /usr/bin/python3 past root's shim", async () => {
    // `exec >` (not `ls > file`, for which dash parks its stdout on fd 10 meanwhile); `true` keeps ls a child of the shell.
    const script =
      'env > env.txt; command -v python3 > py.txt; python3 -c "import sys; print(sys.executable)" >> py.txt; exec > fds.txt; ls /proc/$$/fd; true';
    const run = await retest(['/bin/sh', '-c', script], { PYTEST_ADDOPTS: '-q -p no:cacheprovider' });
    expect(run).toMatchObject({ outcome: 'pass', decision: 'merge', run_as: { uid, user: USER } });

    for (const file of ['env.txt', 'fds.txt', 'py.txt']) expect(statSync(join(checkout, file)).uid).toBe(uid);
    expect(parseEnv(readFileSync(join(checkout, 'env.txt'), 'utf8'))).toEqual({
      PATH: accountPath(uid),
      HOME: join(root, 'home'),
      USER,
      LOGNAME: USER,
      SHELL: '/bin/sh',
      LANG: 'C.UTF-8',
      TZ: 'UTC',
      TERM: 'dumb',
      PWD: checkout,
      PYTEST_ADDOPTS: '-q -p no:cacheprovider',
    });
    expect(readFileSync(join(checkout, 'fds.txt'), 'utf8').split(/\s+/).filter(Boolean)).toEqual(['0', '1', '2']);
    expect(readFileSync(join(checkout, 'py.txt'), 'utf8')).toBe('/usr/bin/python3\n/usr/bin/python3\n');
  });

  it("the request's PATH replaces the account's; HOME cannot be set (400)", async () => {
    const run = await retest(['/bin/sh', '-c', 'echo "$PATH" > path.txt; command -v python3 >> path.txt'], {
      PATH: `${shims}:/usr/bin:/bin`,
    });
    expect(run.outcome).toBe('pass');
    expect(readFileSync(join(checkout, 'path.txt'), 'utf8')).toBe(`${shims}:/usr/bin:/bin\n${shims}/python3\n`);

    const res = await fetch(`${address}/merge-gate/retests`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ repo: 'env', branch: 'home', cwd: checkout, command: ['true'], env: { HOME: '/root' } }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/body\.env: HOME is the account's own/);
  });

  it("the request's LD_PRELOAD reaches the account's processes only, never a root step of the chain", async () => {
    const lib = join(root, 'marker.so');
    const log = join(root, 'preload.log');
    const source = join(root, 'marker.c');
    writeFileSync(
      source,
      `#include <stdio.h>\n#include <unistd.h>\n__attribute__((constructor)) static void mark(void) {\n  FILE *f = fopen("${log}", "a");\n  if (f) { fprintf(f, "%d\\n", (int)getuid()); fclose(f); }\n}\n`,
    );
    sh(['cc', '-shared', '-fPIC', '-o', lib, source]);
    writeFileSync(log, '', { mode: 0o666 });
    chmodSync(log, 0o666);
    const run = await retest(['/bin/sh', '-c', 'true'], { LD_PRELOAD: lib });
    expect(run.outcome).toBe('pass');
    const uids = readFileSync(log, 'utf8').trim().split('\n');
    expect(uids.length).toBeGreaterThan(0);
    expect(new Set(uids)).toEqual(new Set([String(uid)]));
  });
});
