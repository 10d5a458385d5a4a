import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { parseLocks, readFds } from '../proc/fds.js';
import { processAgeS, readBootTimeS, readClockTicks, readCmdline, readStat } from '../proc/read-proc.js';
import { redactCommandLine } from '../redact.js';
import { runThreadJob } from './thread-job.js';
import type { KnownAs, LockHolder } from './types.js';

export interface LockHolderQuery {
  /** Lock (or database) files the output named. */
  paths: string[];
  /** The re-test's checkout: a process working inside it is a suspect too. */
  cwd: string;
}

/** A process found by the /proc walk, before redaction. */
export interface RawHolder {
  pid: number;
  argv: string[];
  ageS: number;
  via: LockHolder['via'];
}

/** The seam to the /proc walk; the default runs it on a worker thread (lock-holders-thread.ts). */
export type LockHolderFinder = (query: LockHolderQuery) => Promise<RawHolder[]>;

const CMDLINE_MAX_CHARS = 512;
const HOLDERS_MAX = 20;
const FIND_TIMEOUT_MS = 15_000;

export interface LockHolderWalk extends LockHolderQuery {
  procRoot: string;
}

const inodeOf = (path: string): number[] => {
  try {
    return [statSync(path).ino];
  } catch {
    return [];
  }
};

const listPids = (procRoot: string): number[] => {
  try {
    return readdirSync(procRoot)
      .filter((n) => /^\d+$/.test(n))
      .map(Number);
  } catch {
    return [];
  }
};

const cwdOf = (pid: number, procRoot: string): string | null => {
  try {
    return readlinkSync(`${procRoot}/${pid}/cwd`);
  } catch {
    return null;
  }
};

/**
 * Who holds `paths` (a /proc/locks row on their inode, or an open fd) or works inside `cwd`,
 * at most HOLDERS_MAX, never this process or init. Walks every process's fds: run it on a thread.
 */
export async function walkLockHolders({ paths, cwd, procRoot }: LockHolderWalk): Promise<RawHolder[]> {
  const found = new Map<number, LockHolder['via']>();
  const add = (pid: number, via: LockHolder['via']): void => {
    if (pid !== process.pid && pid > 1 && !found.has(pid)) found.set(pid, via);
  };
  const inodes = new Set(paths.flatMap(inodeOf));
  try {
    for (const row of parseLocks(readFileSync(`${procRoot}/locks`, 'utf8'))) if (inodes.has(row.inode)) add(row.pid, 'lock');
  } catch {
    // no /proc/locks: the fds still tell
  }
  const wanted = new Set(paths);
  const inside = `${cwd.replace(/\/+$/, '')}/`;
  for (const pid of listPids(procRoot)) {
    if (found.size >= HOLDERS_MAX) break;
    const wd = cwd ? cwdOf(pid, procRoot) : null;
    if (wd !== null && (wd === cwd || wd.startsWith(inside))) add(pid, 'cwd');
    if (wanted.size > 0 && readFds(pid, procRoot).some((fd) => wanted.has(fd.target))) add(pid, 'open');
  }
  const clock = { btimeS: await readBootTimeS(procRoot), clkTck: await readClockTicks(), nowMs: Date.now() };
  const holders: RawHolder[] = [];
  for (const [pid, via] of found) {
    const stat = readStat(pid, procRoot);
    const argv = await readCmdline(pid, procRoot).catch(() => null);
    if (stat && argv) holders.push({ pid, argv, ageS: Math.round(processAgeS(stat.startTicks, clock)), via });
  }
  return holders;
}

/** Who holds `paths` or works in `cwd`, walked on a worker thread. */
export function procLockHolderFinder(procRoot = '/proc'): LockHolderFinder {
  return (query) => runThreadJob<RawHolder[]>('./lock-holders-thread.js', { ...query, procRoot }, FIND_TIMEOUT_MS);
}

/** What leaves the app: redacted, truncated, and tagged with what the proc scan knows. */
export function toLockHolders(raw: readonly RawHolder[], knownAs: (pid: number) => KnownAs | null): LockHolder[] {
  return raw.slice(0, HOLDERS_MAX).map((h) => ({
    pid: h.pid,
    cmdline: redactCommandLine(h.argv, CMDLINE_MAX_CHARS),
    ageS: h.ageS,
    knownAs: knownAs(h.pid),
    via: h.via,
  }));
}
