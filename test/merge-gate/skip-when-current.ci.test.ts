import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { gitHead, isHeadValidated } from '../../src/merge-gate/attempt.js';
import { defaultKillEnvironment } from '../../src/runner/launch.js';
import { commitTwice, git } from '../support/git-checkout.js';

/** The re-test's account: the checkout's owner, an ordinary user (nobody), as the orchestrator's are. */
const OWNER = { uid: 65534, gid: 65534 };

/** chown -R: the checkout belongs to OWNER, as it does on the orchestrator's host. */
const chownTree = (dir: string): void => void execFileSync('chown', ['-R', `${OWNER.uid}:${OWNER.gid}`, dir]);

/** The runner's own fd-closing helper, as the gate passes it. */
let HELPER: string | null;
let repo: string;
let first: string;
let second: string;
beforeAll(async () => {
  HELPER = defaultKillEnvironment().subreaper();
  repo = mkdtempSync(join(tmpdir(), 'owd-git-'));
  chmodSync(repo, 0o755);
  writeFileSync(join(repo, 'a.txt'), 'one\n');
  ({ older: first, head: second } = commitTwice(repo, ['a.txt']));
  mkdirSync(join(repo, 'sub'));
  chownTree(repo);
});

describe('skip-when-current: skip only when HEAD is, beyond doubt, the validated commit', () => {
  it("reads HEAD of a checkout owned by another user as that user, where root's own git sees dubious ownership", async () => {
    const asRoot = spawnSync('git', ['-C', repo, 'rev-parse', 'HEAD'], { encoding: 'utf8', env: { ...process.env, HOME: '/nonexistent' } });
    expect(asRoot.status).not.toBe(0);
    expect(asRoot.stderr).toContain('dubious ownership');
    expect(await gitHead(repo, OWNER, HELPER)).toBe(second);
  });

  it('as WATCHDOG_MERGE_RUN_AS, a user who does not own it: safe.directory names exactly cwd, not a directory below it', async () => {
    const other = { uid: 4242, gid: 4242 };
    expect(await gitHead(repo, other, HELPER)).toBe(second);
    expect(await gitHead(join(repo, 'sub'), other, HELPER)).toBeNull();
    // the owner reads it from anywhere in it
    expect(await gitHead(join(repo, 'sub'), OWNER, HELPER)).toBe(second);
  });

  it('HEAD equal to validated_sha -> skip (upper case accepted)', async () => {
    expect(await isHeadValidated(repo, second, OWNER)).toBe(true);
    expect(await isHeadValidated(repo, second.toUpperCase(), OWNER)).toBe(true);
  });

  it('an older validated commit -> run', async () => {
    expect(await isHeadValidated(repo, first, OWNER)).toBe(false);
  });

  it('an abbreviated hash is doubt -> run', async () => {
    expect(await isHeadValidated(repo, second.slice(0, 12), OWNER)).toBe(false);
  });

  it('no validated_sha -> run', async () => {
    expect(await isHeadValidated(repo, undefined, OWNER)).toBe(false);
  });

  it('not a git repository -> run', async () => {
    const plain = mkdtempSync(join(tmpdir(), 'owd-nogit-'));
    chownTree(plain);
    expect(await gitHead(plain, OWNER, HELPER)).toBeNull();
    expect(await isHeadValidated(plain, second, OWNER)).toBe(false);
  });

  it('a missing cwd -> run', async () => {
    expect(await isHeadValidated(join(repo, 'does-not-exist'), second, OWNER)).toBe(false);
  });

  it('an empty repository (no HEAD commit yet) -> run', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'owd-empty-'));
    git(empty, 'init', '-q');
    chownTree(empty);
    expect(await isHeadValidated(empty, second, OWNER)).toBe(false);
  });

  it('a git that hangs past the timeout -> run; git runs as the account, never as root', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'owd-fakegit-'));
    chmodSync(bin, 0o777);
    writeFileSync(join(bin, 'git'), `#!/bin/sh\nid -u > ${bin}/ran-as\nexec sleep 5\n`, { mode: 0o755 });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const started = Date.now();
      expect(await isHeadValidated(repo, second, OWNER, undefined, 300)).toBe(false);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(readFileSync(join(bin, 'ran-as'), 'utf8').trim()).toBe(String(OWNER.uid));
    } finally {
      process.env.PATH = path;
    }
  });
});
