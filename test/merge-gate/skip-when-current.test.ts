import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { gitHead, isHeadValidated } from '../../src/merge-gate/skip-when-current.js';

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', '-c', 'commit.gpgsign=false', ...args], {
    cwd,
    encoding: 'utf8',
  }).trim();

let repo: string;
let first: string;
let second: string;
beforeAll(() => {
  repo = mkdtempSync(join(tmpdir(), 'owd-git-'));
  git(repo, 'init', '-q', '-b', 'main');
  writeFileSync(join(repo, 'a.txt'), 'one\n');
  git(repo, 'add', 'a.txt');
  git(repo, 'commit', '-q', '-m', 'one');
  first = git(repo, 'rev-parse', 'HEAD');
  writeFileSync(join(repo, 'a.txt'), 'two\n');
  git(repo, 'commit', '-q', '-am', 'two');
  second = git(repo, 'rev-parse', 'HEAD');
});

describe('skip-when-current: skip only when HEAD is, beyond doubt, the validated commit', () => {
  it('reads HEAD of a real repository', async () => {
    expect(await gitHead(repo)).toBe(second);
  });

  it('HEAD equal to validated_sha -> skip (upper case accepted)', async () => {
    expect(await isHeadValidated(repo, second)).toBe(true);
    expect(await isHeadValidated(repo, second.toUpperCase())).toBe(true);
  });

  it('an older validated commit -> run', async () => {
    expect(await isHeadValidated(repo, first)).toBe(false);
  });

  it('an abbreviated hash is doubt -> run', async () => {
    expect(await isHeadValidated(repo, second.slice(0, 12))).toBe(false);
  });

  it('no validated_sha -> run', async () => {
    expect(await isHeadValidated(repo, undefined)).toBe(false);
  });

  it('not a git repository -> run', async () => {
    const plain = mkdtempSync(join(tmpdir(), 'owd-nogit-'));
    expect(await gitHead(plain)).toBeNull();
    expect(await isHeadValidated(plain, second)).toBe(false);
  });

  it('a missing cwd -> run', async () => {
    expect(await isHeadValidated(join(repo, 'does-not-exist'), second)).toBe(false);
  });

  it('an empty repository (no HEAD commit yet) -> run', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'owd-empty-'));
    git(empty, 'init', '-q');
    expect(await isHeadValidated(empty, second)).toBe(false);
  });

  it('a git that hangs past the timeout -> run', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'owd-fakegit-'));
    writeFileSync(join(bin, 'git'), '#!/bin/sh\nexec sleep 5\n', { mode: 0o755 });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const started = Date.now();
      expect(await isHeadValidated(repo, second, 300)).toBe(false);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      process.env.PATH = path;
    }
  });
});
