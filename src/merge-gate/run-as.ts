import { closeSync, constants, fstatSync, lstatSync, openSync } from 'node:fs';
import { readPasswd, type PasswdEntry } from '../runner/account.js';
import type { MergeGateOptions } from './gate-options.js';
import type { RunAsUser } from './types.js';

/** Why a re-test is refused before it is queued (400 with the message). */
export class RunAsRefused extends Error {
  readonly code = 'run_as_refused';
}

// Linux's O_PATH on every architecture Node runs on (Node does not export it): fstat without read access.
const O_PATH = 0o10000000;

/** The owner of the directory `cwd` from one fd (O_NOFOLLOW | O_DIRECTORY), not two lookups; else RunAsRefused saying what it is. */
function cwdOwner(cwd: string): { uid: number; gid: number } {
  let fd: number;
  try {
    fd = openSync(cwd, O_PATH | constants.O_NOFOLLOW | constants.O_DIRECTORY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' && isSymlink(cwd)) throw new RunAsRefused(`cwd ${cwd} is a symbolic link: post the directory it points to`);
    throw new RunAsRefused(`cwd ${cwd} ${code === 'ENOENT' ? 'does not exist' : `cannot be used (${code ?? 'error'})`}`);
  }
  try {
    const { uid, gid } = fstatSync(fd);
    return { uid, gid };
  } finally {
    closeSync(fd);
  }
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The account a uid names (its passwd gid and name, else the fallbacks), or the user WATCHDOG_MERGE_RUN_AS names. */
function account(spec: string, owner: { uid: number; gid: number }, passwd: PasswdEntry[]): Omit<RunAsUser, 'cwdUid'> {
  const uid = spec === '' ? owner.uid : /^\d+$/.test(spec) ? Number(spec) : null;
  const entry = passwd.find((e) => (uid === null ? e.name === spec : e.uid === uid));
  if (uid !== null) return { uid, gid: entry?.gid ?? (spec === '' ? owner.gid : uid), user: entry?.name ?? (spec || String(uid)) };
  if (!entry) throw new RunAsRefused(`WATCHDOG_MERGE_RUN_AS names the user "${spec}", who does not exist on this host`);
  return { uid: entry.uid, gid: entry.gid, user: entry.name };
}

/**
 * Whom a re-test runs as: WATCHDOG_MERGE_RUN_AS, else the owner of its checkout. Root only with
 * WATCHDOG_MERGE_ALLOW_ROOT; never the watchdog's own (non-root) uid, whose secrets it could read.
 */
export function resolveRunAs(cwd: string, opts: Pick<MergeGateOptions, 'runAs' | 'allowRoot'>, selfUid: number): RunAsUser {
  const passwd = readPasswd();
  const owner = cwdOwner(cwd);
  const spec = opts.runAs.trim();
  const runAs = { ...account(spec, owner, passwd), cwdUid: owner.uid };
  if (runAs.uid === 0 && !opts.allowRoot) {
    const why = spec === '' ? `${cwd} is owned by root` : 'WATCHDOG_MERGE_RUN_AS is root';
    throw new RunAsRefused(
      `${why}: re-tests do not run as root; chown the checkout to the test user, set WATCHDOG_MERGE_RUN_AS, or set WATCHDOG_MERGE_ALLOW_ROOT=true`,
    );
  }
  if (runAs.uid === selfUid && runAs.uid !== 0) {
    throw new RunAsRefused(
      `the re-test would run as uid ${runAs.uid}, the watchdog's own: run the watchdog as another user, or set WATCHDOG_MERGE_RUN_AS`,
    );
  }
  return runAs;
}

/** At start: why the run must not go ahead, or null: a checkout swapped since the account was fixed is refused; a gone one is left to the run. */
export function recheckCwd(cwd: string, runAs: RunAsUser): string | null {
  let uid: number;
  try {
    uid = cwdOwner(cwd).uid;
  } catch {
    return isSymlink(cwd) ? 'cwd has been replaced by a symbolic link since the re-test was posted' : null;
  }
  if (uid === runAs.cwdUid) return null;
  return `cwd is now owned by uid ${uid}, not uid ${runAs.cwdUid} as when the re-test was posted (it runs as ${runAs.user})`;
}
