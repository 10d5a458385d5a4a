import { execFile } from 'node:child_process';
import { enterAs, type RunAs } from '../runner/account.js';
import { defaultKillEnvironment, type KillEnvironment } from '../runner/launch.js';
import { findOnPath } from '../runner/spawn.js';

const GIT_TIMEOUT_MS = 10_000;

/**
 * `git rev-parse HEAD` in `cwd`, entered the way the runner starts a re-test (enterAs): every
 * inherited fd above 2 closed by the helper, setpriv to the re-test's own account, which enters
 * `cwd` itself, in the account's allowlisted environment. Whatever the repo's config makes git
 * run (core.fsmonitor, includes…) runs with no more rights than the re-test's suite, never as
 * root. `safe.directory` names exactly `cwd` (a WATCHDOG_MERGE_RUN_AS user who does not own it);
 * git's owner check still guards every other path. null on any error, timeout or odd output.
 */
export function gitHead(cwd: string, runAs: RunAs, helper: string | null, timeoutMs = GIT_TIMEOUT_MS): Promise<string | null> {
  const git = findOnPath('git');
  const entry = git && enterAs(runAs, cwd, { GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0' }, helper);
  if (!git || !entry || 'code' in entry) return Promise.resolve(null);
  const argv = [...entry.prefix, git, '-c', `safe.directory=${cwd}`, 'rev-parse', '--verify', '--quiet', 'HEAD'];
  return new Promise((resolve) => {
    try {
      execFile(argv[0]!, argv.slice(1), { cwd: '/', timeout: timeoutMs, env: entry.env, maxBuffer: 64 * 1024 }, (err, stdout) => {
        const head = String(stdout).trim().toLowerCase();
        resolve(!err && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(head) ? head : null);
      });
    } catch {
      resolve(null);
    }
  });
}

/**
 * Skip the re-test only when HEAD is, beyond doubt, the commit that was already validated:
 * the full hash must match (an abbreviated one could name another commit). Any git error,
 * timeout or mismatch means run.
 */
export async function isHeadValidated(
  cwd: string,
  validatedSha: string | undefined,
  runAs: RunAs,
  killEnv: KillEnvironment = defaultKillEnvironment(),
  timeoutMs = GIT_TIMEOUT_MS,
): Promise<boolean> {
  if (!validatedSha) return false;
  const head = await gitHead(cwd, runAs, killEnv.subreaper(), timeoutMs);
  return head !== null && head === validatedSha.toLowerCase();
}
