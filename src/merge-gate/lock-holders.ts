import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { parseLocks, readFds } from '../proc/fds.js';
import { processAgeS, readBootTimeS, readClockTicks, readCmdline, readStat } from '../proc/read-proc.js';
import { redactCommandLine } from '../redact.js';
import { runThreadJob } from './output-scan.js';
import type { KnownAs, LockHolder } from './types.js';

/** `paths`: lock (or database) files the output named; `cwd`: the re-test's checkout (a process working inside it is a suspect too). */
interface LockHolderQuery {
  paths: string[];
  cwd: string;
}

/** A process found by the /proc walk, before redaction. */
type RawHolder = Omit<LockHolder, 'cmdline' | 'knownAs'> & { argv: string[] };

/** The seam to the /proc walk; the default runs it on a worker thread. */
export type LockHolderFinder = (query: LockHolderQuery) => Promise<RawHolder[]>;

const CMDLINE_MAX_CHARS = 512;
const HOLDERS_MAX = 20;
const FIND_TIMEOUT_MS = 15_000;

export type LockHolderWalk = LockHolderQuery & { procRoot: string };

/** A /proc or stat read that fails (the process is gone, the file absent) gives `fallback`. */
function orElse<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/** Who holds `paths` (a /proc/locks row on their inode, or an open fd) or works inside `cwd`, never us or init; run it on a thread. */
export async function walkLockHolders({ paths, cwd, procRoot }: LockHolderWalk): Promise<RawHolder[]> {
  const found = new Map<number, LockHolder['via']>();
  const add = (pid: number, via: LockHolder['via']): void => {
    if (pid !== process.pid && pid > 1 && !found.has(pid)) found.set(pid, via);
  };
  const inodes = new Set(paths.flatMap((path) => orElse(() => [statSync(path).ino], [])));
  // no /proc/locks: the fds still tell
  for (const row of parseLocks(orElse(() => readFileSync(`${procRoot}/locks`, 'utf8'), '')))
    if (inodes.has(row.inode)) add(row.pid, 'lock');
  const wanted = new Set(paths);
  const inside = `${cwd.replace(/\/+$/, '')}/`;
  const pids = orElse(() => readdirSync(procRoot), []).filter((n) => /^\d+$/.test(n));
  for (const pid of pids.map(Number)) {
    if (found.size >= HOLDERS_MAX) break;
    const wd = cwd ? orElse(() => readlinkSync(`${procRoot}/${pid}/cwd`), null) : null;
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
  return (query) => runThreadJob<RawHolder[]>({ ...query, procRoot }, FIND_TIMEOUT_MS);
}

/** What leaves the app: redacted, truncated, and tagged with what the proc scan knows. */
export function toLockHolders(raw: readonly RawHolder[], knownAs: (pid: number) => KnownAs | null): LockHolder[] {
  return raw
    .slice(0, HOLDERS_MAX)
    .map(({ argv, ...h }) => ({ ...h, cmdline: redactCommandLine(argv, CMDLINE_MAX_CHARS), knownAs: knownAs(h.pid) }));
}
