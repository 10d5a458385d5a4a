import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { testApp } from '../support/app.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The account of a re-test is fixed at POST; the checkout path can change before the run starts.
 * Real local users: `attacker` owns the checkouts it posts, `victim` has a 0700 home with a secret.
 */

const TOKEN = 'retest-cwd-token';
const suffix = process.pid % 100000;
const ATTACKER = `owdatk${suffix}`;
const VICTIM = `owdvic${suffix}`;
const users: Record<string, { uid: number; gid: number }> = {};
let root: string;
let victimHome: string;
let leak: string;
const apps: FastifyInstance[] = [];

const sh = (cmd: string[]) => {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

/** `path` (created if need be) owned by `user`, with `mode`. */
function dirOf(user: string, path: string, mode = 0o755): string {
  mkdirSync(path, { mode, recursive: true });
  chmodSync(path, mode);
  chownSync(path, users[user]!.uid, users[user]!.gid);
  return path;
}

async function app(config: Partial<Config> = {}) {
  const a = await testApp({ apiToken: TOKEN, mergeAllowRoot: false, killGraceS: 0.2, ...config });
  apps.push(a);
  return a;
}

async function post(a: FastifyInstance, cwd: string, command: string[]): Promise<string> {
  const res = await a.inject({
    method: 'POST',
    url: '/merge-gate/retests',
    headers: { authorization: `Bearer ${TOKEN}` },
    payload: { repo: 'shared', branch: `b${Math.random()}`, cwd, command },
  });
  expect(res.statusCode, res.body).toBe(202);
  return res.json<{ id: string }>().id;
}

const get = async (a: FastifyInstance, id: string) => (await a.inject(`/merge-gate/retests/${id}`)).json<Record<string, unknown>>();

/** A fresh file anyone may write: the probe's report, empty while it never ran. */
function freshLeak(): void {
  leak = join(root, `leak-${Math.random()}`);
  writeFileSync(leak, '', { mode: 0o666 });
  chmodSync(leak, 0o666);
}

/** Writes where it ran and what it could read there, if it runs at all. */
const probe = () => ['/bin/sh', '-c', 'pwd > "$0"; cat secret >> "$0" 2>&1; true', leak];

/** Holds the queue of repo `shared`: a first re-test that runs until the test says go. */
async function holdQueue(a: FastifyInstance): Promise<() => Promise<void>> {
  const hold = dirOf(ATTACKER, mkdtempSync(join(root, 'hold-')));
  const id = await post(a, hold, ['/bin/sh', '-c', 'while [ ! -e go ]; do sleep 0.05; done']);
  await waitFor('the first re-test running', async () => (await get(a, id)).status === 'running', { timeoutMs: 30_000 });
  return async () => {
    writeFileSync(join(hold, 'go'), '');
    await a.ctx.mergeGate.idle();
  };
}

beforeAll(() => {
  for (const user of [ATTACKER, VICTIM]) {
    sh(['useradd', '--no-create-home', '--home-dir', `/nonexistent/${user}`, '--shell', '/bin/sh', '--user-group', user]);
    users[user] = { uid: Number(sh(['id', '-u', user])), gid: Number(sh(['id', '-g', user])) };
  }
  root = mkdtempSync('/tmp/owd-cwd-');
  chmodSync(root, 0o755);
  victimHome = dirOf(VICTIM, join(root, 'victim'), 0o700);
  writeFileSync(join(victimHome, 'secret'), 'victim-secret\n', { mode: 0o600 });
  chownSync(join(victimHome, 'secret'), users[VICTIM]!.uid, users[VICTIM]!.gid);
  dirOf(VICTIM, join(victimHome, 'sub'), 0o700);
});

afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
  if (leak) rmSync(leak, { force: true });
});

afterAll(() => {
  for (const user of [ATTACKER, VICTIM]) {
    spawnSync('pkill', ['-KILL', '-u', user]);
    spawnSync('userdel', [user]);
  }
  rmSync(root, { recursive: true, force: true });
});

describe("a queued re-test's cwd is checked again at start and entered as its account", { timeout: 90_000 }, () => {
  it("swapped for a symlink into another user's 0700 home while queued: cancelled with the reason, nothing read", async () => {
    freshLeak();
    const a = await app();
    const release = await holdQueue(a);
    const checkout = dirOf(ATTACKER, mkdtempSync(join(root, 'repo-')));
    const id = await post(a, checkout, probe());
    expect((await get(a, id)).status).toBe('queued');
    // What the attacker, who owns its checkout's directory, can do while the re-test waits.
    rmSync(checkout, { recursive: true });
    symlinkSync(victimHome, checkout);
    await release();
    expect(await get(a, id)).toMatchObject({
      status: 'done',
      outcome: 'cancelled',
      decision: 'repost',
      reason: 'cwd has been replaced by a symbolic link since the re-test was posted',
      run_as: { uid: users[ATTACKER]!.uid, user: ATTACKER },
    });
    expect(readFileSync(leak, 'utf8')).toBe('');
  });

  it('a directory above cwd swapped, so cwd is now a directory of another owner: cancelled with the reason', async () => {
    freshLeak();
    const a = await app();
    const release = await holdQueue(a);
    const parent = dirOf(ATTACKER, mkdtempSync(join(root, 'parent-')));
    const checkout = dirOf(ATTACKER, join(parent, 'sub'));
    const id = await post(a, checkout, probe());
    renameSync(parent, `${parent}.old`);
    symlinkSync(victimHome, parent);
    await release();
    expect(await get(a, id)).toMatchObject({
      outcome: 'cancelled',
      decision: 'repost',
      reason: `cwd is now owned by uid ${users[VICTIM]!.uid}, not uid ${users[ATTACKER]!.uid} as when the re-test was posted (it runs as ${ATTACKER})`,
    });
    expect(readFileSync(leak, 'utf8')).toBe('');
  });

  it("WATCHDOG_MERGE_RUN_AS and another user's 0700 directory: the account cannot enter it, so the command never runs (infra)", async () => {
    freshLeak();
    const a = await app({ mergeRunAs: ATTACKER, mergeInfraRetryMax: 0 });
    const id = await post(a, victimHome, probe());
    await a.ctx.mergeGate.idle();
    expect(await get(a, id)).toMatchObject({ outcome: 'infra', returncode: 126, run_as: { user: ATTACKER } });
    // As root the watchdog could have entered it; the account could not, so nothing ran there.
    expect(readFileSync(leak, 'utf8')).toBe('');
  });

  it('a checkout only its account may enter (0700): the run passes, in that directory, as that account', async () => {
    freshLeak();
    const checkout = dirOf(ATTACKER, mkdtempSync(join(root, 'private-')), 0o700);
    writeFileSync(join(checkout, 'secret'), 'own file\n');
    const a = await app();
    const id = await post(a, checkout, probe());
    await a.ctx.mergeGate.idle();
    expect(await get(a, id)).toMatchObject({ outcome: 'pass', run_as: { uid: users[ATTACKER]!.uid } });
    expect(readFileSync(leak, 'utf8')).toBe(`${checkout}\nown file\n`);
  });

  it('a cwd that is a symlink is refused at POST (400): post the directory it points to', async () => {
    const target = dirOf(ATTACKER, mkdtempSync(join(root, 'target-')));
    const link = join(root, `link-${Math.random()}`);
    symlinkSync(target, link);
    const a = await app();
    const res = await a.inject({
      method: 'POST',
      url: '/merge-gate/retests',
      headers: { authorization: `Bearer ${TOKEN}` },
      payload: { repo: 'r', branch: 'b', cwd: link, command: ['true'] },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      error: 'run_as_refused',
      message: `cwd ${link} is a symbolic link: post the directory it points to`,
    });
  });
});
