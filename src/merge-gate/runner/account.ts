import { readFileSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { findOnPath } from './subreaper.js';
import type { RunAs } from '../types.js';

export interface Account {
  name: string;
  home: string;
}

/** The /etc/passwd entry of `uid`, or null (a uid without an entry still runs, with HOME=/). */
export function lookupAccount(uid: number, passwdText?: string): Account | null {
  let text = passwdText;
  if (text === undefined) {
    try {
      text = readFileSync('/etc/passwd', 'utf8');
    } catch {
      return null;
    }
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length >= 7 && Number(fields[2]) === uid && fields[2] !== '') return { name: fields[0]!, home: fields[5] || '/' };
  }
  return null;
}

/** The watchdog's own settings (tokens, secrets, their _FILE paths) never reach a re-test. */
export function commandEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('WATCHDOG_')));
}

/** The env a re-test sees when it runs as `account`: its own HOME, USER and LOGNAME. */
export function accountEnv(env: NodeJS.ProcessEnv, uid: number, account: Account | null): NodeJS.ProcessEnv {
  const name = account?.name ?? String(uid);
  return { ...env, HOME: account?.home ?? '/', USER: name, LOGNAME: name };
}

/**
 * argv that becomes `runAs` right before the command (util-linux setpriv): the cgroup wrapper
 * and the subreaper helper stay the watchdog's, so the command cannot kill its helper or leave
 * the run cgroup it does not own; supplementary groups are the user's own (initgroups).
 */
export function dropPrivilegesArgv(runAs: RunAs, account: Account | null): string[] | null {
  const setpriv = findOnPath('setpriv', `${process.env.PATH ?? ''}:/usr/bin:/bin`);
  // BusyBox's setpriv knows no --init-groups and exits 1: that must be a refused run, not a red suite.
  if (!setpriv || basename(realpathSync(setpriv)) === 'busybox') return null;
  const groups = account ? '--init-groups' : '--clear-groups';
  return [setpriv, `--reuid=${runAs.uid}`, `--regid=${runAs.gid}`, groups, '--'];
}
