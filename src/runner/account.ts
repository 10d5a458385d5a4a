import { readFileSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { findOnPath, type StartError } from './spawn.js';

/** Who a command runs as (never the watchdog's own identity, which the gate checks). */
export interface RunAs {
  uid: number;
  gid: number;
}

/** One /etc/passwd line. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export type Account = Pick<PasswdEntry, 'name' | 'home' | 'shell'>;

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** The entries of /etc/passwd (or `text`); malformed lines are skipped. */
export function readPasswd(text: string | null = readText('/etc/passwd')): PasswdEntry[] {
  return (text ?? '').split('\n').flatMap((line) => {
    const [name, , uid, gid, , home, shell] = line.split(':');
    if (!name || !/^\d+$/.test(uid ?? '') || !/^\d+$/.test(gid ?? '')) return [];
    return [{ name, uid: Number(uid), gid: Number(gid), home: home || '/', shell: shell || '/bin/sh' }];
  });
}

/** The passwd entry of `uid`, or null (a uid without an entry still runs, with HOME=/). */
export function lookupAccount(uid: number, passwdText?: string): Account | null {
  const entry = readPasswd(passwdText).find((e) => e.uid === uid);
  return entry ? { name: entry.name, home: entry.home, shell: entry.shell } : null;
}

/** su(1)'s defaults when /etc/login.defs names none. */
export const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';
export const DEFAULT_SUPATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The PATH su(1) gives `uid` (never the watchdog's own, which may start with root's pyenv shims):
 * login.defs ENV_SUPATH for root, ENV_PATH for everyone else; a value that is not a list of
 * absolute directories falls back to the default.
 */
export function accountPath(uid: number, loginDefsText: string | null = readText('/etc/login.defs')): string {
  const key = uid === 0 ? 'ENV_SUPATH' : 'ENV_PATH';
  const line = (loginDefsText ?? '').split('\n').find((l) => l.trim().split(/\s+/)[0] === key);
  const value = line
    ?.trim()
    .slice(key.length)
    .trim()
    .replace(/^PATH=/, '');
  const isAbsoluteList = value !== undefined && value !== '' && value.split(':').every((dir) => dir.startsWith('/'));
  return isAbsoluteList ? value : uid === 0 ? DEFAULT_SUPATH : DEFAULT_PATH;
}

/** Locale and terminal settings a re-test takes from the watchdog's environment. */
const CARRIED = /^(LANG|LANGUAGE|LC_[A-Z_]+|TZ|TERM)$/;
/** Who the re-test is: the account's own, never the request's. */
export const IDENTITY_NAMES = ['HOME', 'USER', 'LOGNAME', 'SHELL'] as const;
/** Names the enter step uses for itself (ENTER_SH). */
export const RESERVED_PREFIX = 'ORCH_WATCHDOG_';

/**
 * The environment of a command run as the account `uid`, an allowlist: PATH (accountPath),
 * HOME, USER, LOGNAME and SHELL from passwd, LANG, LANGUAGE, LC_*, TZ and TERM from `inherited`, then
 * `extra` (the request's `env`), which may replace PATH and the locale but never the identity.
 */
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

/**
 * `orch-watchdog run` is timeout(1) for its caller: the caller's own environment, less the
 * watchdog's settings (tokens, secrets, their _FILE paths).
 */
export function callerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('WATCHDOG_')));
}

/** Bounds of a request's `env`: far above what a test suite sets, far below execve's limits. */
export const REQUEST_ENV_LIMITS = { count: 64, nameChars: 128, valueBytes: 32 * 1024, totalBytes: 128 * 1024 } as const;
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Why a request's `env` cannot be used, or null. Anything the account could set for itself is
 * allowed (LD_PRELOAD too: it reaches only the account's own processes, after the drop); the
 * identity (HOME, USER, LOGNAME, SHELL) and the enter step's own names are not.
 */
export function requestEnvProblem(env: Readonly<Record<string, string>>): string | null {
  const { count, nameChars, valueBytes, totalBytes } = REQUEST_ENV_LIMITS;
  const entries = Object.entries(env);
  if (entries.length > count) return `at most ${count} variables`;
  let total = 0;
  for (const [name, value] of entries) {
    if (name.length > nameChars || !ENV_NAME.test(name))
      return `"${name.slice(0, 40)}" is not a variable name ([A-Za-z_][A-Za-z0-9_]*, at most ${nameChars} characters)`;
    if ((IDENTITY_NAMES as readonly string[]).includes(name)) return `${name} is the account's own (from /etc/passwd) and cannot be set`;
    if (name.startsWith(RESERVED_PREFIX)) return `${name}: names starting with ${RESERVED_PREFIX} are reserved`;
    if (value.includes('\0')) return `${name} must not contain NUL`;
    const bytes = Buffer.byteLength(value);
    if (bytes > valueBytes) return `${name} is longer than ${valueBytes} bytes`;
    total += name.length + bytes;
  }
  return total > totalBytes ? `more than ${totalBytes} bytes in all` : null;
}

// ENTER_SH's own names all start with RESERVED_PREFIX (ORCH_WATCHDOG_), which a request may not use.
const NAMES_VAR = `${RESERVED_PREFIX}ENV_NAMES`;
const VALUE_VAR = `${RESERVED_PREFIX}ENV_`;

/**
 * The last step before the command, run by /bin/sh as the account (after setpriv): enter cwd
 * (a path swapped for a link into a home the account may not enter fails here, never as
 * root), export the command's environment from the ORCH_WATCHDOG_ENV_* it was carried in (so
 * nothing a request sets, LD_PRELOAD say, reaches a root step of the chain), close fds 3-9 and
 * refuse to run while any fd above 2 is still open (the helper's --close-fds closed the rest).
 * Argv: $1 = cwd, then the command.
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

/** The whole environment of the chain's steps: `env` as the enter step reads it (every name in one list, each value in a numbered variable). */
export function carryEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  const names = Object.keys(env).filter((name) => ENV_NAME.test(name));
  const values = names.map((name, i): [string, string] => [`${VALUE_VAR}${i}`, env[name]!]);
  return { [NAMES_VAR]: names.join(' '), ...Object.fromEntries(values) };
}

/** How to start a command as an account: argv to put before it, and the environment to spawn that argv with. */
export interface Entry {
  prefix: string[];
  env: Record<string, string>;
}

/**
 * Runs what follows the prefix as `runAs`, in `cwd`, with `accountEnv` plus `extraEnv`: the
 * helper closes the fds the watchdog inherited, setpriv (util-linux) drops to the account with
 * its own groups, and ENTER_SH does the rest as the account. Spawn it from `/` with `env`: the
 * root steps see nothing but the carried variables.
 */
export function enterAs(runAs: RunAs, cwd: string, extraEnv: Readonly<Record<string, string>>, helper: string | null): Entry | StartError {
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
