import { lstatSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface Owned {
  uid: number;
  mode: number;
}

const S_IWGRP_IWOTH = 0o022;
const S_ISVTX = 0o1000;

const modeText = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');

/** sshd's StrictModes: ours and writable by nobody else, or anyone could write what is restored; sticky /tmp too (names can be taken first). */
export function whyUntrusted(what: string, st: Owned, selfUid: number): string | null {
  if (st.uid !== selfUid) return `${what} is owned by uid ${st.uid}, not by the watchdog's uid ${selfUid}`;
  if ((st.mode & S_IWGRP_IWOTH) !== 0) return `${what} is writable by group or others (mode ${modeText(st.mode)})`;
  return null;
}

/** An ancestor may belong to root, and be world-writable when sticky: nobody else can rename the directory below it away. */
export function whyUntrustedAncestor(what: string, st: Owned, selfUid: number): string | null {
  if (st.uid !== selfUid && st.uid !== 0) return `${what} is owned by uid ${st.uid}, neither root nor the watchdog's uid ${selfUid}`;
  if ((st.mode & S_IWGRP_IWOTH) !== 0 && (st.mode & S_ISVTX) === 0)
    return `${what} is writable by group or others and not sticky (mode ${modeText(st.mode)})`;
  return null;
}

/** What a path names, as far as the state store cares: nothing, a regular file, or something it refuses. */
export function whyNotAFile(path: string, st: Stats): string | null {
  if (st.isSymbolicLink()) return `${path} is a symbolic link; point WATCHDOG_STATE_FILE at the file itself`;
  if (st.isDirectory()) return `${path} names a directory; WATCHDOG_STATE_FILE is the path of a file in it`;
  if (!st.isFile()) return `${path} is not a regular file`;
  return null;
}

const errCode = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? 'error';

/** Checks `path`, `extra` files beside it and every ancestor directory: the real directory, or why the path is refused. */
export function checkStatePath(path: string, selfUid: number, extra: readonly string[] = []): PathVerdict {
  try {
    return examine(path, selfUid, extra);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return { ok: false, why: `the directory ${dirname(path)} does not exist` };
    return { ok: false, why: `${dirname(path)} cannot be examined (${errCode(err)})` };
  }
}

export type PathVerdict = { ok: true; dir: string } | { ok: false; why: string };

function examine(path: string, selfUid: number, extra: readonly string[]): PathVerdict {
  const dir = realpathSync(dirname(path));
  const dirStat = statSync(dir);
  if (!dirStat.isDirectory()) return { ok: false, why: `${dir} is not a directory` };
  const why = whyUntrusted(`the directory ${dir}`, dirStat, selfUid) ?? untrustedAncestor(dir, selfUid);
  if (why) return { ok: false, why };
  for (const name of [basename(path), ...extra.map((p) => basename(p))]) {
    const file = join(dir, name);
    let st: Stats;
    try {
      st = lstatSync(file);
    } catch (err) {
      if (errCode(err) === 'ENOENT') continue;
      return { ok: false, why: `${file} cannot be examined (${errCode(err)})` };
    }
    const bad = whyNotAFile(file, st) ?? whyUntrusted(file, st, selfUid);
    if (bad) return { ok: false, why: bad };
  }
  return { ok: true, dir };
}

function untrustedAncestor(dir: string, selfUid: number): string | null {
  for (let at = dirname(dir); ; at = dirname(at)) {
    const why = whyUntrustedAncestor(`its ancestor ${at}`, statSync(at), selfUid);
    if (why) return why;
    if (at === dirname(at)) return null;
  }
}
