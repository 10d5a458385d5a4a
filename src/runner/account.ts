import { closeSync, constants, fstatSync, lstatSync, openSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { findOnPath, readText, type StartError } from './spawn.js';

/** Who a command runs as (never the watchdog's own identity, which the gate checks). */
export interface RunAs {
  uid: number;
  gid: number;
}

/** The account a re-test runs as; `cwdUid`: who owned cwd when it was fixed, as at start it must still. */
export type RunAsUser = RunAs & { user: string; cwdUid: number };

/** The entries of /etc/passwd (or `text`); malformed lines are skipped. */
export function readPasswd(text: string | null = readText('/etc/passwd')) {
  return (text ?? '').split('\n').flatMap((line) => {
    const [name, , uid, gid, , home, shell] = line.split(':');
    if (!name || !/^\d+$/.test(uid ?? '') || !/^\d+$/.test(gid ?? '')) return [];
    return [{ name, uid: Number(uid), gid: Number(gid), home: home || '/', shell: shell || '/bin/sh' }];
  });
}

type PasswdEntry = ReturnType<typeof readPasswd>[number];
export type Account = Pick<PasswdEntry, 'name' | 'home' | 'shell'>;

/** The passwd entry of `uid`, or null (a uid without an entry still runs, with HOME=/). */
export function lookupAccount(uid: number, passwdText?: string): Account | null {
  const entry = readPasswd(passwdText).find((e) => e.uid === uid);
  return entry ? { name: entry.name, home: entry.home, shell: entry.shell } : null;
}

/** su(1)'s defaults when /etc/login.defs names none. */
export const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';
export const DEFAULT_SUPATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The PATH su(1) gives `uid` (never the watchdog's own, which may start with root's pyenv shims): login.defs ENV_SUPATH or ENV_PATH. */
export function accountPath(uid: number, loginDefsText: string | null = readText('/etc/login.defs')): string {
  const key = uid === 0 ? 'ENV_SUPATH' : 'ENV_PATH';
  const line = (loginDefsText ?? '').split('\n').find((l) => l.trim().split(/\s+/)[0] === key);
  const value = /^\S+\s*(?:PATH=)?(.*)$/.exec(line?.trim() ?? '')?.[1] ?? '';
  return value !== '' && value.split(':').every((dir) => dir.startsWith('/')) ? value : uid === 0 ? DEFAULT_SUPATH : DEFAULT_PATH;
}

/** Locale and terminal settings a re-test takes from the watchdog's own variables. */
const CARRIED = /^(LANG|LANGUAGE|LC_[A-Z_]+|TZ|TERM)$/;
/** Who the re-test is: the account's own, never the request's. */
const IDENTITY_NAMES = ['HOME', 'USER', 'LOGNAME', 'SHELL'];
/** Names the enter step uses for itself (ENTER_SH). */
export const RESERVED_PREFIX = 'ORCH_WATCHDOG_';

/** An allowlist: PATH, the identity from passwd, the locale from `inherited`, then `extra` (the request's), which may not set the identity. */
export function accountEnv(
  uid: number,
  account: Account | null,
  inherited: NodeJS.ProcessEnv = process.env,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const carried = Object.entries(inherited).filter((e): e is [string, string] => CARRIED.test(e[0]) && e[1] !== undefined);
  const requested = Object.entries(extra).filter(([name]) => !name.startsWith(RESERVED_PREFIX));
  const name = account?.name ?? String(uid);
  return {
    PATH: accountPath(uid),
    ...Object.fromEntries(carried),
    ...Object.fromEntries(requested),
    HOME: account?.home ?? '/',
    USER: name,
    LOGNAME: name,
    SHELL: account?.shell ?? '/bin/sh',
  };
}

/** `orch-watchdog run` is timeout(1) for its caller: the caller's own environment, less the watchdog's settings and secrets. */
export function callerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('WATCHDOG_')));
}

/** Bounds of a request's `env`: far above what a test suite sets, far below execve's limits. */
export const REQUEST_ENV_LIMITS = { count: 64, nameChars: 128, valueBytes: 32 * 1024, totalBytes: 128 * 1024 } as const;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Why a request's `env` cannot be used, or null. LD_PRELOAD and the like are fine: they reach only the account, after the drop. */
export function requestEnvProblem(env: Readonly<Record<string, string>>): string | null {
  const { count, nameChars, valueBytes, totalBytes } = REQUEST_ENV_LIMITS;
  const entries = Object.entries(env);
  if (entries.length > count) return `at most ${count} variables`;
  let total = 0;
  for (const [name, value] of entries) {
    if (name.length > nameChars || !ENV_NAME.test(name))
      return `"${name.slice(0, 40)}" is not a variable name ([A-Za-z_][A-Za-z0-9_]*, at most ${nameChars} characters)`;
    if (IDENTITY_NAMES.includes(name)) return `${name} is the account's own (from /etc/passwd) and cannot be set`;
    if (name.startsWith(RESERVED_PREFIX)) return `${name}: names starting with ${RESERVED_PREFIX} are reserved`;
    if (value.includes('\0')) return `${name} must not contain NUL`;
    const bytes = Buffer.byteLength(value);
    if (bytes > valueBytes) return `${name} is longer than ${valueBytes} bytes`;
    total += name.length + bytes;
  }
  return total > totalBytes ? `more than ${totalBytes} bytes in all` : null;
}

/**
 * The last step, as the account: enter cwd ($1; never as root), export the env carried in ORCH_WATCHDOG_ENV_* (nothing a
 * request sets reaches a root step), refuse to run while an fd above 2 is open (the helper's --close-fds closed those above 9).
 */
export const ENTER_SH = `ORCH_WATCHDOG_DIR=$1; shift
if ! cd -P -- "$ORCH_WATCHDOG_DIR" 2>/dev/null; then printf 'orch-watchdog: the account cannot enter %s\\n' "$ORCH_WATCHDOG_DIR" >&2; exit 126; fi
ORCH_WATCHDOG_I=0
for ORCH_WATCHDOG_NAME in $ORCH_WATCHDOG_ENV_NAMES; do
  eval "ORCH_WATCHDOG_VALUE=\\$ORCH_WATCHDOG_ENV_$ORCH_WATCHDOG_I"; unset "ORCH_WATCHDOG_ENV_$ORCH_WATCHDOG_I"
  export "$ORCH_WATCHDOG_NAME=$ORCH_WATCHDOG_VALUE"; ORCH_WATCHDOG_I=$((ORCH_WATCHDOG_I + 1))
done
unset ORCH_WATCHDOG_ENV_NAMES OLDPWD
exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
for ORCH_WATCHDOG_FD in /proc/self/fd/*; do
  case $ORCH_WATCHDOG_FD in /proc/self/fd/[012]) continue ;; esac
  if [ -e "$ORCH_WATCHDOG_FD" ]; then
    printf 'orch-watchdog: %s is open and would reach the command (the subreaper helper closes it: npm ci builds it where a C compiler exists)\\n' "$ORCH_WATCHDOG_FD" >&2; exit 126
  fi
done
if ! command -v -- "$1" >/dev/null 2>&1; then printf 'orch-watchdog: %s: command not found\\n' "$1" >&2; exit 127; fi
exec "$@"`;

/** The whole environment of the chain's steps: `env` as ENTER_SH reads it (every name in one list, each value in a numbered variable). */
export function carryEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  const names = Object.keys(env).filter((name) => ENV_NAME.test(name));
  return {
    ORCH_WATCHDOG_ENV_NAMES: names.join(' '),
    ...Object.fromEntries(names.map((name, i) => [`ORCH_WATCHDOG_ENV_${i}`, env[name]!])),
  };
}

type Entry = { prefix: string[]; env: Record<string, string> } | StartError;

/** The argv before a command that runs it as `runAs` in `cwd` (helper --close-fds, setpriv, ENTER_SH), and the env to spawn it with from `/`. */
export function enterAs(runAs: RunAs, cwd: string, extraEnv: Readonly<Record<string, string>>, helper: string | null): Entry {
  const setpriv = findOnPath('setpriv', `${process.env.PATH ?? ''}:/usr/bin:/bin`);
  // BusyBox's setpriv knows no --init-groups and exits 1: that must be a refused run, not a red suite.
  if (!setpriv || basename(realpathSync(setpriv)) === 'busybox')
    return { code: 'ERUNAS', message: `cannot run as uid ${runAs.uid}: setpriv (util-linux) not found` };
  const account = lookupAccount(runAs.uid);
  const groups = account ? '--init-groups' : '--clear-groups';
  const drop = [setpriv, `--reuid=${runAs.uid}`, `--regid=${runAs.gid}`, groups, '--'];
  return {
    prefix: [...(helper ? [helper, '--close-fds'] : []), ...drop, '/bin/sh', '-c', ENTER_SH, 'orch-watchdog-enter', cwd],
    env: carryEnv(accountEnv(runAs.uid, account, process.env, extraEnv)),
  };
}

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

/** WATCHDOG_MERGE_RUN_AS, else cwd's owner; root only with WATCHDOG_MERGE_ALLOW_ROOT; never the watchdog's own uid (its secrets). */
export function resolveRunAs(cwd: string, opts: { mergeRunAs: string; mergeAllowRoot: boolean }, selfUid: number): RunAsUser {
  const passwd = readPasswd();
  const owner = cwdOwner(cwd);
  const spec = opts.mergeRunAs.trim();
  const runAs = { ...account(spec, owner, passwd), cwdUid: owner.uid };
  if (runAs.uid === 0 && !opts.mergeAllowRoot) {
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
