import { realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { accountEnv, ENV_NAME, lookupAccount, RESERVED_PREFIX } from './account.js';
import type { StartError } from './spawn.js';
import { findOnPath, type SubreaperHelper } from './subreaper.js';
import type { RunAs } from '../types.js';

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
export const ENTER_SH = String.raw`ORCH_WATCHDOG_DIR=$1; shift
if ! cd -P -- "$ORCH_WATCHDOG_DIR" 2>/dev/null; then printf 'orch-watchdog: the account cannot enter %s\n' "$ORCH_WATCHDOG_DIR" >&2; exit 126; fi
unset PYTHONCOERCECLOCALE; ORCH_WATCHDOG_I=0
for ORCH_WATCHDOG_NAME in $ORCH_WATCHDOG_ENV_NAMES; do
  eval "ORCH_WATCHDOG_VALUE=\$ORCH_WATCHDOG_ENV_$ORCH_WATCHDOG_I"; unset "ORCH_WATCHDOG_ENV_$ORCH_WATCHDOG_I"
  export "$ORCH_WATCHDOG_NAME=$ORCH_WATCHDOG_VALUE"; ORCH_WATCHDOG_I=$((ORCH_WATCHDOG_I + 1))
done
unset ORCH_WATCHDOG_ENV_NAMES OLDPWD
exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
for ORCH_WATCHDOG_FD in /proc/self/fd/*; do
  case $ORCH_WATCHDOG_FD in /proc/self/fd/[012]) continue ;; esac
  if [ -e "$ORCH_WATCHDOG_FD" ]; then
    printf 'orch-watchdog: %s is open and would reach the command (the helper closes it: install a C compiler or python3)\n' "$ORCH_WATCHDOG_FD" >&2; exit 126
  fi
done
if ! command -v -- "$1" >/dev/null 2>&1; then printf 'orch-watchdog: %s: command not found\n' "$1" >&2; exit 127; fi
exec "$@"`;

/**
 * The whole environment of the chain's steps: `env` as the enter step reads it (every name in one
 * list, each value in a numbered variable), and PYTHONCOERCECLOCALE=0, without which the python
 * helper would export LC_CTYPE=C.UTF-8 to the steps after it (ENTER_SH unsets it).
 */
export function carryEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  const names = Object.keys(env).filter((name) => ENV_NAME.test(name));
  const values = names.map((name, i): [string, string] => [`${VALUE_VAR}${i}`, env[name]!]);
  return { PYTHONCOERCECLOCALE: '0', [NAMES_VAR]: names.join(' '), ...Object.fromEntries(values) };
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
export function enterAs(
  runAs: RunAs,
  cwd: string,
  extraEnv: Readonly<Record<string, string>>,
  helper: SubreaperHelper | null,
): Entry | StartError {
  const setpriv = findOnPath('setpriv', `${process.env.PATH ?? ''}:/usr/bin:/bin`);
  // BusyBox's setpriv knows no --init-groups and exits 1: that must be a refused run, not a red suite.
  if (!setpriv || basename(realpathSync(setpriv)) === 'busybox')
    return { code: 'ERUNAS', message: `cannot run as uid ${runAs.uid}: setpriv (util-linux) not found` };
  const account = lookupAccount(runAs.uid);
  const groups = account ? '--init-groups' : '--clear-groups';
  const drop = [setpriv, `--reuid=${runAs.uid}`, `--regid=${runAs.gid}`, groups, '--'];
  return {
    prefix: [...(helper?.closeFdsPrefix ?? []), ...drop, '/bin/sh', '-c', ENTER_SH, 'orch-watchdog-enter', cwd],
    env: carryEnv(accountEnv(runAs.uid, account, process.env, extraEnv)),
  };
}
