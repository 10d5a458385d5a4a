import { statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { requestEnvProblem } from '../runner/account.js';

/**
 * What a RetestRequest may hold, field by field: POST /merge-gate/retests (snake_case, with its
 * descriptions) and a re-test restored from WATCHDOG_STATE_FILE are held to the same rules.
 */

export const MAX_TIMEOUT_S = 86_400;
/** PATH_MAX: the kernel would refuse a longer path anyway. */
const MAX_CWD_CHARS = 4096;
/** Per argument and for the whole argv: every byte of it is logged (redacted) and kept in the state file. */
const MAX_ARG_CHARS = 64 * 1024;
const MAX_COMMAND_CHARS = 256 * 1024;
const noNul = (s: string) => !s.includes('\0');

const isDirectory = (path: string): boolean => {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
};

export const requestFields = {
  repo: z.string().trim().min(1, 'must be a non-empty string').max(200).refine(noNul, 'must not contain NUL'),
  branch: z.string().trim().min(1, 'must be a non-empty string').max(255).refine(noNul, 'must not contain NUL'),
  cwd: z
    .string()
    .max(MAX_CWD_CHARS, `must be at most ${MAX_CWD_CHARS} characters`)
    .refine((p) => isAbsolute(p) && noNul(p), 'must be an absolute path')
    .refine(isDirectory, 'must be an existing directory'),
  command: z
    .array(z.string().max(MAX_ARG_CHARS, `an argument must be at most ${MAX_ARG_CHARS} characters`).refine(noNul, 'must not contain NUL'))
    .min(1, 'must be a non-empty argv array')
    .max(4096)
    .refine((argv) => (argv[0] ?? '') !== '', 'command[0] (the program) must not be empty')
    .refine(
      (argv) => argv.reduce((sum, arg) => sum + arg.length, 0) <= MAX_COMMAND_CHARS,
      `the arguments must total at most ${MAX_COMMAND_CHARS} characters`,
    ),
  timeoutS: z.number().gt(0, 'must be greater than 0').max(MAX_TIMEOUT_S, `must be at most ${MAX_TIMEOUT_S}`),
  validatedSha: z.string().regex(/^[0-9a-fA-F]{7,64}$/, 'must be a 7..64 character hex commit id'),
  env: z.record(z.string(), z.string()).superRefine((env, ctx) => {
    const problem = requestEnvProblem(env);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
};
