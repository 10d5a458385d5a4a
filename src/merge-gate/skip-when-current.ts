import { execFile } from 'node:child_process';

const GIT_TIMEOUT_MS = 10_000;

/** `git rev-parse HEAD` in `cwd` without a shell; null on any error, timeout or odd output. */
export function gitHead(cwd: string, timeoutMs = GIT_TIMEOUT_MS): Promise<string | null> {
  return new Promise((resolve) => {
    try {
      execFile(
        'git',
        ['rev-parse', '--verify', '--quiet', 'HEAD'],
        { cwd, timeout: timeoutMs, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' }, maxBuffer: 64 * 1024 },
        (err, stdout) => {
          const head = String(stdout).trim().toLowerCase();
          resolve(!err && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(head) ? head : null);
        },
      );
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
export async function isHeadValidated(cwd: string, validatedSha: string | undefined, timeoutMs = GIT_TIMEOUT_MS): Promise<boolean> {
  if (!validatedSha) return false;
  const head = await gitHead(cwd, timeoutMs);
  return head !== null && head === validatedSha.toLowerCase();
}
