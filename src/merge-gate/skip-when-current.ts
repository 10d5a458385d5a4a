import { execFile } from 'node:child_process';
import { accountEnv, dropPrivilegesArgv, lookupAccount } from './runner/account.js';
import { findOnPath } from './runner/subreaper.js';
import { retestEnv } from './retest-env.js';
import type { RunAs } from './types.js';

const GIT_TIMEOUT_MS = 10_000;

/** The re-test's environment without any GIT_* (GIT_DIR, GIT_CONFIG_PARAMETERS… would steer which repo or config is read). */
function gitEnv(runAs: RunAs): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(retestEnv()).filter(([key]) => !key.startsWith('GIT_')));
  return { ...accountEnv(env, runAs.uid, lookupAccount(runAs.uid)), GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0' };
}

/**
 * `git rev-parse HEAD` in `cwd`, run as the re-test's own account through the runner's setpriv:
 * the repo's config (core.fsmonitor, includes…) is that account's to set, and runs with no more
 * rights than the re-test itself, never as root. git enters `cwd` itself (`-C`), after the drop,
 * and `safe.directory` names exactly `cwd` (the owner check still guards every other path).
 * null on any error, timeout or odd output.
 */
export function gitHead(cwd: string, runAs: RunAs, timeoutMs = GIT_TIMEOUT_MS): Promise<string | null> {
  const git = findOnPath('git');
  const drop = dropPrivilegesArgv(runAs, lookupAccount(runAs.uid));
  if (!git || !drop) return Promise.resolve(null);
  const argv = [...drop, git, '-C', cwd, '-c', `safe.directory=${cwd}`, 'rev-parse', '--verify', '--quiet', 'HEAD'];
  return new Promise((resolve) => {
    try {
      execFile(argv[0]!, argv.slice(1), { cwd: '/', timeout: timeoutMs, env: gitEnv(runAs), maxBuffer: 64 * 1024 }, (err, stdout) => {
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
  timeoutMs = GIT_TIMEOUT_MS,
): Promise<boolean> {
  if (!validatedSha) return false;
  const head = await gitHead(cwd, runAs, timeoutMs);
  return head !== null && head === validatedSha.toLowerCase();
}
