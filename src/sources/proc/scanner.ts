import type * as NodeFs from 'node:fs';
import type { ProcStat } from '../../proc/parse-stat.js';
import type { createMatcher as CreateMatcher, MatchMode } from './program.js';

export interface ScannerOptions {
  /** WATCHDOG_PROC_ROOT */
  root: string;
  /** WATCHDOG_PROC_PATTERNS, as regex sources */
  patterns: string[];
  /** WATCHDOG_PROC_EXCLUDE, as regex sources */
  exclude: string[];
  /** WATCHDOG_PROC_MATCH */
  mode: MatchMode;
  /** Report every process's (pid, ppid, starttime) for run and leftover tracking (off: the bench's reference). */
  lineage: boolean;
  /** A cached cmdline match is re-read at most this long after it was read (jittered 50–100 %). */
  recheckMs: number;
  /** Bytes of /proc/<pid>/cmdline read; the rest of a huge command line is ignored. */
  cmdlineMaxBytes: number;
  /** This scanner reads only pids with `pid % count === index` (one shard per thread). */
  shard?: { index: number; count: number };
  /**
   * stat files kept open between scans (0 = open/read/close every time). A kept fd is re-read
   * with one pread instead of open+read+close, and answers ESRCH once its process is gone, so
   * it can never be mistaken for a newcomer that reuses the pid.
   */
  maxHeldFds?: number;
}

export interface ScannerDeps {
  fs: Pick<typeof NodeFs, 'readdirSync' | 'openSync' | 'readSync' | 'closeSync'>;
  parseStat: (text: string) => ProcStat | null;
  programOf: (argv: readonly string[]) => string;
  createMatcher: typeof CreateMatcher;
  /** ms; only drives the cmdline re-check, never an age */
  now: () => number;
  random: () => number;
}

/** A process whose cmdline matched a pattern, as read; redaction happens before it leaves the app. */
export interface RawCandidate extends ProcStat {
  argv: string[];
  match: MatchMode;
  /** comm of the parent process, null when the parent could not be read */
  parentComm: string | null;
}

export type ReadErrorKind = 'eacces' | 'parse' | 'other';

export interface ScanResult {
  candidates: RawCandidate[];
  /** pid directories whose stat parsed */
  processes: number;
  /** pid directories that disappeared while being read (not errors) */
  vanished: number;
  /** cmdline files read this scan (the rest came from the (pid, starttime) cache) */
  cmdlineReads: number;
  errors: Record<ReadErrorKind, number>;
  durationMs: number;
  /** (pid, ppid, starttime) of every process read, flat; empty without `lineage` */
  lineage: number[];
}

export interface Scanner {
  scan(): ScanResult;
  /** Closes the stat files kept open between scans. */
  close(): void;
}

/**
 * The /proc walk, synchronous and allocation-light: it runs inside the scan worker so a read
 * that blocks (cmdline takes the target's mmap lock) never stalls the event loop.
 * Self-contained (no module-level references): the worker runs `createScanner.toString()`.
 */
export function createScanner(deps: ScannerDeps, opts: ScannerOptions): Scanner {
  const { fs, parseStat, now, random } = deps;
  const matcher = deps.createMatcher(opts, deps.programOf);
  const shard = opts.shard && opts.shard.count > 1 ? opts.shard : null;
  const statBuf = Buffer.allocUnsafe(4096);
  const cmdBuf = Buffer.allocUnsafe(Math.max(256, opts.cmdlineMaxBytes));

  // kept-open stat fds by pid; closed when the pid leaves the listing or answers ESRCH
  const heldFds = new Map<number, number>();
  let fdBudget = Math.max(0, opts.maxHeldFds ?? 0);
  const release = (pid: number): void => {
    const fd = heldFds.get(pid);
    if (fd === undefined) return;
    heldFds.delete(pid);
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
  };
  const releaseAll = (): void => {
    for (const pid of [...heldFds.keys()]) release(pid);
  };

  interface CacheEntry {
    /** see identityOf: a new process or an exec changes it */
    identity: string;
    comm: string;
    match: MatchMode | null;
    argv: string[];
    recheckAtMs: number;
    generation: number;
  }
  // keyed by pid; a different starttime under the same pid is a different process
  const cache = new Map<number, CacheEntry>();
  let generation = 0;

  type ReadOutcome = { bytes: number } | { error: 'vanished' | ReadErrorKind };

  const classify = (err: unknown): 'vanished' | ReadErrorKind => {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ESRCH') return 'vanished';
    if (code === 'EACCES' || code === 'EPERM') return 'eacces';
    return 'other';
  };

  // one read: procfs fills the buffer in a single call, a second read would only return 0
  const readInto = (path: string, buf: Buffer, limit: number): ReadOutcome => {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (err) {
      return { error: classify(err) };
    }
    try {
      return { bytes: fs.readSync(fd, buf, 0, limit, 0) };
    } catch (err) {
      return { error: classify(err) };
    } finally {
      fs.closeSync(fd);
    }
  };

  const readStatOf = (pid: number, path: string): ReadOutcome => {
    const held = heldFds.get(pid);
    if (held !== undefined) {
      try {
        return { bytes: fs.readSync(held, statBuf, 0, statBuf.length, 0) };
      } catch (err) {
        release(pid);
        const kind = classify(err);
        // ESRCH: the process behind the fd is gone; the pid, if listed, is a newcomer: open afresh
        if (kind !== 'vanished') return { error: kind };
      }
    }
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'EMFILE' || code === 'ENFILE') {
        // never starve the process (sockets!) of descriptors: stop keeping any open
        fdBudget = 0;
        releaseAll();
      }
      return { error: classify(err) };
    }
    let keep = false;
    try {
      const bytes = fs.readSync(fd, statBuf, 0, statBuf.length, 0);
      keep = heldFds.size < fdBudget;
      if (keep) heldFds.set(pid, fd);
      return { bytes };
    } catch (err) {
      return { error: classify(err) };
    } finally {
      if (!keep) fs.closeSync(fd);
    }
  };

  /**
   * comm + starttime (field 22) + startcode/endcode (fields 26, 27, which change on every exec),
   * cut from the stat text without splitting it: the cache check for the ~98 % of processes
   * that do not match. null when the line is malformed.
   */
  let seenPpid = 0;
  let seenStart = 0;
  const identityOf = (text: string): string | null => {
    const open = text.indexOf('(');
    const close = text.lastIndexOf(')');
    if (open < 0 || close < open) return null;
    let pos = close + 2; // field 3
    let startOf4 = -1;
    let startOf22 = -1;
    let startOf26 = -1;
    for (let field = 3; field <= 27; field += 1) {
      if (field === 4) startOf4 = pos;
      if (field === 22) startOf22 = pos;
      if (field === 26) startOf26 = pos;
      if (field === 27) break;
      const space = text.indexOf(' ', pos);
      if (space < 0) return null;
      pos = space + 1;
    }
    const endOf22 = text.indexOf(' ', startOf22);
    seenPpid = Number(text.slice(startOf4, text.indexOf(' ', startOf4)));
    seenStart = Number(text.slice(startOf22, endOf22));
    let endOf27 = text.indexOf(' ', pos);
    if (endOf27 < 0) endOf27 = text.length;
    return `${text.slice(open, close + 1)}${text.slice(startOf22 - 1, endOf22)}${text.slice(startOf26 - 1, endOf27)}`;
  };

  const scan = (): ScanResult => {
    const startedMs = now();
    const nowMs = startedMs;
    generation += 1;
    const errors: Record<ReadErrorKind, number> = { eacces: 0, parse: 0, other: 0 };
    let processes = 0;
    let vanished = 0;
    let cmdlineReads = 0;
    const commByPid = new Map<number, string>();
    const matched: { stat: ProcStat; argv: string[]; match: MatchMode }[] = [];
    const lineage: number[] = [];

    let names: string[];
    try {
      names = fs.readdirSync(opts.root);
    } catch (err) {
      throw new Error(`cannot list WATCHDOG_PROC_ROOT ${opts.root}: ${(err as Error).message}`);
    }

    for (const name of names) {
      const first = name.charCodeAt(0);
      if (first < 48 || first > 57 || !/^\d+$/.test(name)) continue;
      const pid = Number(name);
      if (shard && pid % shard.count !== shard.index) continue;
      const dir = `${opts.root}/${name}`;
      const statRead = readStatOf(pid, `${dir}/stat`);
      if ('error' in statRead) {
        if (statRead.error === 'vanished') vanished += 1;
        else errors[statRead.error] += 1;
        continue;
      }
      const statText = statBuf.toString('latin1', 0, statRead.bytes);
      const identity = identityOf(statText);
      if (identity !== null && opts.lineage) lineage.push(pid, seenPpid, seenStart);
      let entry = identity === null ? undefined : cache.get(pid);
      if (entry !== undefined && entry.identity === identity && nowMs < entry.recheckAtMs) {
        processes += 1;
        commByPid.set(pid, entry.comm);
        entry.generation = generation;
        if (entry.match !== null) {
          const stat = parseStat(statText);
          if (stat) matched.push({ stat, argv: entry.argv, match: entry.match });
        }
        continue;
      }
      const stat = parseStat(statText);
      if (stat === null || identity === null) {
        errors.parse += 1;
        release(pid);
        continue;
      }
      processes += 1;
      commByPid.set(pid, stat.comm);
      cmdlineReads += 1;
      const cmdRead = readInto(`${dir}/cmdline`, cmdBuf, opts.cmdlineMaxBytes);
      let argv: string[] = [];
      if ('error' in cmdRead) {
        if (cmdRead.error === 'vanished') {
          vanished += 1;
          processes -= 1;
          cache.delete(pid);
          release(pid);
          continue;
        }
        errors[cmdRead.error] += 1;
      } else {
        // NUL-separated argv; invalid UTF-8 becomes U+FFFD instead of failing the scan
        let end = cmdRead.bytes;
        while (end > 0 && cmdBuf[end - 1] === 0) end -= 1;
        argv = end === 0 ? [] : cmdBuf.toString('utf8', 0, end).split('\0');
      }
      const match = matcher.match(argv);
      entry = {
        identity,
        comm: stat.comm,
        match,
        argv: match !== null ? argv : [],
        recheckAtMs: nowMs + opts.recheckMs * (0.5 + random() * 0.5),
        generation,
      };
      cache.set(pid, entry);
      if (match !== null) matched.push({ stat, argv, match });
    }

    for (const [pid, entry] of cache) if (entry.generation !== generation) cache.delete(pid);
    for (const pid of heldFds.keys()) if (cache.get(pid)?.generation !== generation) release(pid);

    const candidates: RawCandidate[] = matched.map(({ stat, argv, match }) => {
      let parentComm = commByPid.get(stat.ppid) ?? null;
      if (parentComm === null && stat.ppid > 0) {
        const r = readInto(`${opts.root}/${stat.ppid}/stat`, statBuf, statBuf.length);
        if (!('error' in r)) parentComm = parseStat(statBuf.toString('latin1', 0, r.bytes))?.comm ?? null;
      }
      return { ...stat, argv, match, parentComm };
    });
    return { candidates, processes, vanished, cmdlineReads, errors, durationMs: now() - startedMs, lineage };
  };

  return { scan, close: releaseAll };
}
