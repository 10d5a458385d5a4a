import { readFileSync, statSync } from 'node:fs';
import type { RunAsUser } from './types.js';

export interface RunAsPolicy {
  /** WATCHDOG_MERGE_RUN_AS: a user name or uid; empty = the owner of cwd. */
  spec: string;
  /** WATCHDOG_MERGE_ALLOW_ROOT */
  allowRoot: boolean;
  /** The watchdog's own uid (a re-test must never share it: it could read the watchdog's secrets). */
  selfUid: number;
  passwdFile?: string;
}

/** Why a re-test is refused before it is queued (400 with the message). */
export class RunAsRefused extends Error {
  readonly code = 'run_as_refused';
}

interface PasswdEntry {
  user: string;
  uid: number;
  gid: number;
}

function readPasswd(file: string): PasswdEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').flatMap((line) => {
    const [user, , uid, gid] = line.split(':');
    if (!user || !/^\d+$/.test(uid ?? '') || !/^\d+$/.test(gid ?? '')) return [];
    return [{ user, uid: Number(uid), gid: Number(gid) }];
  });
}

function fromSpec(spec: string, passwd: PasswdEntry[]): RunAsUser {
  if (/^\d+$/.test(spec)) {
    const uid = Number(spec);
    const entry = passwd.find((e) => e.uid === uid);
    return { uid, gid: entry?.gid ?? uid, user: entry?.user ?? spec };
  }
  const entry = passwd.find((e) => e.user === spec);
  if (!entry) throw new RunAsRefused(`WATCHDOG_MERGE_RUN_AS names the user "${spec}", who does not exist on this host`);
  return { uid: entry.uid, gid: entry.gid, user: entry.user };
}

function ownerOf(cwd: string, passwd: PasswdEntry[]): RunAsUser {
  const st = statSync(cwd);
  const entry = passwd.find((e) => e.uid === st.uid);
  return { uid: st.uid, gid: entry?.gid ?? st.gid, user: entry?.user ?? String(st.uid) };
}

/**
 * Whom a re-test runs as: WATCHDOG_MERGE_RUN_AS, else the owner of its checkout. Root only with
 * WATCHDOG_MERGE_ALLOW_ROOT; never the watchdog's own (non-root) uid, whose secrets it could read.
 */
export function resolveRunAs(cwd: string, policy: RunAsPolicy): RunAsUser {
  const passwd = readPasswd(policy.passwdFile ?? '/etc/passwd');
  const runAs = policy.spec.trim() === '' ? ownerOf(cwd, passwd) : fromSpec(policy.spec.trim(), passwd);
  if (runAs.uid === 0 && !policy.allowRoot) {
    const why = policy.spec.trim() === '' ? `${cwd} is owned by root` : 'WATCHDOG_MERGE_RUN_AS is root';
    throw new RunAsRefused(
      `${why}: re-tests do not run as root; chown the checkout to the test user, set WATCHDOG_MERGE_RUN_AS, or set WATCHDOG_MERGE_ALLOW_ROOT=true`,
    );
  }
  if (runAs.uid === policy.selfUid && runAs.uid !== 0) {
    throw new RunAsRefused(
      `the re-test would run as uid ${runAs.uid}, the watchdog's own: run the watchdog as another user, or set WATCHDOG_MERGE_RUN_AS`,
    );
  }
  return runAs;
}
