import { execFileSync } from 'node:child_process';

/**
 * The test's own git, run as root while it builds a checkout; safe.directory names exactly that
 * directory, because it may already belong to the user the checkout is for.
 */
export function git(cwd: string, ...args: string[]): string {
  const identity = ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', '-c', 'commit.gpgsign=false'];
  return execFileSync('git', ['-c', `safe.directory=${cwd}`, ...identity, ...args], { cwd, encoding: 'utf8' }).trim();
}

/** Makes `dir` a repository: `files` (already written) in a first commit, then an empty second one; both hashes. */
export function commitTwice(dir: string, files: string[]): { older: string; head: string } {
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', ...files);
  git(dir, 'commit', '-q', '-m', 'one');
  const older = git(dir, 'rev-parse', 'HEAD');
  git(dir, 'commit', '-q', '--allow-empty', '-m', 'two');
  return { older, head: git(dir, 'rev-parse', 'HEAD') };
}
