import type * as NodeFs from 'node:fs';
import type { ProcStat } from '../../proc/parse-stat.js';
import { isKernelThreadStat, parseStatusIds } from '../../proc/pid-namespace.js';
import { createNsReads, type NsCache, type NsMember, type NsReads, type PidProbe, type PidViewRequest } from './scan-namespaces.js';
import type { createMatcher as CreateMatcher, MatchMode } from './program.js';
import { createStatReader, statIdentity, type ReadErrorKind, type StatReader } from './scan-reads.js';

export type { ReadErrorKind } from './scan-reads.js';
export type { NsMember, PidProbe, PidViewRequest } from './scan-namespaces.js';

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
  /** Given by the worker, whose source has no module imports (vitest rewrites imported names). */
  statIdentity?: typeof statIdentity;
  createStatReader?: typeof createStatReader;
  parseStatusIds?: typeof parseStatusIds;
  isKernelThreadStat?: typeof isKernelThreadStat;
  createNsReads?: typeof createNsReads;
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
  /** processes of PidViewRequest.containerId */
  members: NsMember[];
  /** PidViewRequest.probePids that exist */
  probes: PidProbe[];
}

export interface Scanner {
  scan(request?: PidViewRequest): ScanResult;
  /** Closes the stat files kept open between scans. */
  close(): void;
}

interface CacheEntry extends NsCache {
  /** see statIdentity: a new process or an exec changes it */
  identity: string;
  comm: string;
  match: MatchMode | null;
  argv: string[];
  recheckAtMs: number;
  generation: number;
}

/** What one scanner keeps between scans. */
export interface ScanState {
  deps: ScannerDeps;
  opts: ScannerOptions;
  matcher: ReturnType<typeof CreateMatcher>;
  statBuf: Buffer;
  cmdBuf: Buffer;
  reader: StatReader;
  /** what the namespace reads use */
  ns: NsReads;
  /** keyed by pid; a different starttime under the same pid is a different process */
  cache: Map<number, CacheEntry>;
  generation: number;
}

/** What one scan gathers. */
export interface ScanPass {
  nowMs: number;
  errors: Record<ReadErrorKind, number>;
  processes: number;
  vanished: number;
  cmdlineReads: number;
  commByPid: Map<number, string>;
  matched: { stat: ProcStat; argv: string[]; match: MatchMode }[];
  lineage: number[];
  containerId: string | null;
  members: NsMember[];
}

/**
 * The /proc walk, synchronous and allocation-light: it runs inside the scan worker so a read
 * that blocks (cmdline takes the target's mmap lock) never stalls the event loop.
 * Self-contained but for the functions of this file and scan-reads.ts, which the worker source
 * defines beside it (it runs their `toString()`).
 */
export function createScanner(deps: ScannerDeps, opts: ScannerOptions): Scanner {
  const statBuf = Buffer.allocUnsafe(4096);
  const reader = (deps.createStatReader ?? createStatReader)(deps.fs, opts.maxHeldFds ?? 0, statBuf);
  const state: ScanState = {
    deps,
    opts,
    matcher: deps.createMatcher(opts, deps.programOf),
    statBuf,
    cmdBuf: Buffer.allocUnsafe(Math.max(256, opts.cmdlineMaxBytes)),
    reader,
    ns: (deps.createNsReads ?? createNsReads)(reader, statBuf, opts, {
      parseStatusIds: deps.parseStatusIds ?? parseStatusIds,
      isKernelThreadStat: deps.isKernelThreadStat ?? isKernelThreadStat,
    }),
    cache: new Map(),
    generation: 0,
  };
  return { scan: (request) => scanOnce(state, request), close: () => state.reader.releaseAll() };
}

export function scanOnce(state: ScanState, request?: PidViewRequest): ScanResult {
  const { deps, opts, cache, reader, statBuf } = state;
  const startedMs = deps.now();
  state.generation += 1;
  const pass: ScanPass = {
    nowMs: startedMs,
    errors: { eacces: 0, parse: 0, other: 0 },
    processes: 0,
    vanished: 0,
    cmdlineReads: 0,
    commByPid: new Map(),
    matched: [],
    lineage: [],
    containerId: request?.containerId || null,
    members: [],
  };
  let names: string[];
  try {
    names = deps.fs.readdirSync(opts.root);
  } catch (err) {
    throw new Error(`cannot list WATCHDOG_PROC_ROOT ${opts.root}: ${(err as Error).message}`, { cause: err });
  }
  const shard = opts.shard && opts.shard.count > 1 ? opts.shard : null;
  for (const name of names) {
    const first = name.charCodeAt(0);
    if (first < 48 || first > 57 || !/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (!shard || pid % shard.count === shard.index) visitPid(state, pass, pid);
  }
  for (const [pid, entry] of cache) if (entry.generation !== state.generation) cache.delete(pid);
  reader.keepOnly((pid) => cache.get(pid)?.generation === state.generation);

  const candidates: RawCandidate[] = pass.matched.map(({ stat, argv, match }) => {
    let parentComm = pass.commByPid.get(stat.ppid) ?? null;
    if (parentComm === null && stat.ppid > 0) {
      const r = reader.readInto(`${opts.root}/${stat.ppid}/stat`, statBuf, statBuf.length);
      if (!('error' in r)) parentComm = deps.parseStat(statBuf.toString('latin1', 0, r.bytes))?.comm ?? null;
    }
    return { ...stat, argv, match, parentComm };
  });
  const probes = state.ns.probe(request?.probePids ?? []);
  const { processes, vanished, cmdlineReads, errors, lineage, members } = pass;
  return { candidates, processes, vanished, cmdlineReads, errors, durationMs: deps.now() - startedMs, lineage, members, probes };
}

/** One pid: its stat (through the cache when unchanged), its cmdline when new or due, its match. */
export function visitPid(state: ScanState, pass: ScanPass, pid: number): void {
  const { deps, opts, cache, reader } = state;
  const dir = `${opts.root}/${pid}`;
  const statRead = reader.readStat(pid, `${dir}/stat`);
  if ('error' in statRead) {
    if (statRead.error === 'vanished') pass.vanished += 1;
    else pass.errors[statRead.error] += 1;
    return;
  }
  const statText = state.statBuf.toString('latin1', 0, statRead.bytes);
  const seen = (deps.statIdentity ?? statIdentity)(statText);
  if (seen !== null && opts.lineage) pass.lineage.push(pid, seen.ppid, seen.startTicks);
  const cached = seen === null ? undefined : cache.get(pid);
  if (cached !== undefined && cached.identity === seen?.identity && pass.nowMs < cached.recheckAtMs) {
    pass.processes += 1;
    pass.commByPid.set(pid, cached.comm);
    cached.generation = state.generation;
    state.ns.noteMember(pass, pid, cached);
    const stat = cached.match === null ? null : deps.parseStat(statText);
    if (stat && cached.match !== null) pass.matched.push({ stat, argv: cached.argv, match: cached.match });
    return;
  }
  const stat = deps.parseStat(statText);
  if (stat === null || seen === null) {
    pass.errors.parse += 1;
    reader.release(pid);
    return;
  }
  pass.cmdlineReads += 1;
  const argv = readArgv(state, pass, dir);
  if (argv === null) {
    cache.delete(pid);
    reader.release(pid);
    return;
  }
  pass.processes += 1;
  pass.commByPid.set(pid, stat.comm);
  const match = state.matcher.match(argv);
  const recheckAtMs = pass.nowMs + opts.recheckMs * (0.5 + deps.random() * 0.5);
  // a cmdline re-check keeps what never changes for the same process: its container and NSpid
  const same = cached?.identity === seen.identity ? cached : undefined;
  const entry: CacheEntry = {
    identity: seen.identity,
    comm: stat.comm,
    match,
    argv: match !== null ? argv : [],
    recheckAtMs,
    generation: state.generation,
    containerCheck: same?.containerCheck,
    nsPids: same?.nsPids,
  };
  cache.set(pid, entry);
  state.ns.noteMember(pass, pid, entry);
  if (match !== null) pass.matched.push({ stat, argv, match });
}

/** NUL-separated argv; invalid UTF-8 becomes U+FFFD instead of failing the scan. null: the process vanished. */
export function readArgv(state: ScanState, pass: ScanPass, dir: string): string[] | null {
  const { cmdBuf } = state;
  const read = state.reader.readInto(`${dir}/cmdline`, cmdBuf, state.opts.cmdlineMaxBytes);
  if ('error' in read) {
    if (read.error === 'vanished') {
      pass.vanished += 1;
      return null;
    }
    pass.errors[read.error] += 1;
    return [];
  }
  let end = read.bytes;
  while (end > 0 && cmdBuf[end - 1] === 0) end -= 1;
  return end === 0 ? [] : cmdBuf.toString('utf8', 0, end).split('\0');
}
