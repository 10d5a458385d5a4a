import * as nodeFs from 'node:fs';
import { readHeldLocks, type HeldLock } from '../../proc/locks.js';
import { parseStat, type ProcStat } from '../../proc/parse-stat.js';
import { readListeningPorts } from '../../proc/ports.js';
import { createMatcher, type Matcher, type MatchMode } from './program.js';
import type { NsMember, PidProbe, PidViewRequest } from '../../watchdog/agent-directory.js';
import { createNsReads, type NsCache, type NsReads } from './scan-namespaces.js';
import {
  isSameKey,
  LineageBuffer,
  readFileInto,
  readHeldFdBudget,
  readStatKey,
  StatReader,
  type ReadErrorKind,
  type ScanFs,
  type StatKey,
} from './scan-reads.js';

/** Processes whose locks and ports are read afresh in one scan: a flood of candidates is not read whole each tick. */
export const MAX_RESOURCE_READS = 256;

/** A process that neither matches nor is watched has its stat re-read this often (jittered 50–100 %), not every scan. */
export const STAT_RECHECK_MS = 10_000;

export interface ScannerOptions {
  /** WATCHDOG_PROC_ROOT */
  root: string;
  /** WATCHDOG_PROC_PATTERNS, as regex sources */
  patterns: string[];
  /** WATCHDOG_PROC_EXCLUDE, as regex sources */
  exclude: string[];
  /** WATCHDOG_PROC_MATCH */
  mode: MatchMode;
  /** A process's cmdline, locks and ports are read again at most this long after they were read (jittered 50–100 %). */
  recheckMs: number;
  /** Bytes of /proc/<pid>/cmdline read; the rest of a huge command line is ignored. */
  cmdlineMaxBytes: number;
  /** stat files kept open between scans; by default a quarter of the open-file limit, none outside procfs */
  maxHeldFds?: number;
}

export interface ScannerDeps {
  fs: ScanFs;
  /** ms; only drives the re-reads, never an age */
  now: () => number;
  random: () => number;
}

/** What one tick asks of the scan besides the walk. */
export interface ScanRequest extends Partial<PidViewRequest> {
  /** (pid, starttime) pairs, flat: processes whose facts come back while they live (the members a run may leave behind) */
  watch?: readonly number[];
}

/** A matching or watched process: its stat, argv (redacted before it leaves the app), parent and resources. */
export interface ScannedProcess extends ProcStat {
  argv: string[];
  match: MatchMode | null;
  /** comm of the parent process, null when the parent could not be read */
  parentComm: string | null;
  locks: HeldLock[];
  ports: number[];
}

/** A process whose program (or command line) matches. */
export type MatchedProcess = ScannedProcess & { match: MatchMode };

export interface ScanResult {
  /** processes whose program (or command line) matches */
  candidates: MatchedProcess[];
  /** watched processes still alive that do not match */
  watched: ScannedProcess[];
  /** (pid, ppid, starttime) of every process read, flat; a typed array the worker hands over without a copy */
  lineage: Float64Array<ArrayBuffer>;
  /** processes of the request's container, and the request's probe pids that exist */
  members: NsMember[];
  probes: PidProbe[];
  /** processes read (or known unchanged); pid directories that disappeared while read (not errors) */
  processes: number;
  vanished: number;
  /** cmdline files read this scan (the rest came from the (pid, starttime) cache) */
  cmdlineReads: number;
  errors: Record<ReadErrorKind, number>;
  durationMs: number;
}

interface CacheEntry extends NsCache {
  /** a new process or an exec changes it */
  key: StatKey;
  comm: string;
  match: MatchMode | null;
  /** kept for matching and watched processes only */
  argv: string[] | null;
  /** when its cmdline is read again */
  recheckAtMs: number;
  /** when its stat is read again, if it neither matches nor is watched */
  statAtMs: number;
  generation: number;
  resources?: { locks: HeldLock[]; ports: number[]; recheckAtMs: number };
}

/** What one scan gathers. */
interface ScanPass {
  nowMs: number;
  watch: Map<number, number>;
  counts: Pick<ScanResult, 'processes' | 'vanished' | 'cmdlineReads' | 'errors'>;
  /** the matching and watched processes, whose facts the scan returns */
  wanted: { stat: ProcStat; entry: CacheEntry }[];
  lineage: LineageBuffer;
  containerId: string | null;
  members: NsMember[];
}

/**
 * The /proc walk of one tick, synchronous and allocation-light: it runs in the scan worker, so a
 * read that blocks (cmdline takes the target's mmap lock) never stalls the event loop. It keeps a
 * (pid, starttime) cache between scans: a process's cmdline, locks and ports are re-read only
 * when it is new, exec-ed, or due.
 */
export class Scanner {
  private readonly matcher: Matcher;
  private readonly reader: StatReader;
  private readonly ns: NsReads;
  private readonly cmdBuf: Buffer;
  private readonly cache = new Map<number, CacheEntry>();
  private readonly lineage = new LineageBuffer();
  private generation = 0;

  constructor(
    private readonly opts: ScannerOptions,
    private readonly deps: ScannerDeps = { fs: nodeFs, now: Date.now, random: Math.random },
  ) {
    this.matcher = createMatcher(opts);
    this.reader = new StatReader(deps.fs, opts.maxHeldFds ?? readHeldFdBudget(opts.root), Buffer.allocUnsafe(4096));
    this.ns = createNsReads(deps.fs, opts.root);
    this.cmdBuf = Buffer.allocUnsafe(Math.max(256, opts.cmdlineMaxBytes));
  }

  scan(request: ScanRequest = {}): ScanResult {
    const { deps, opts, cache } = this;
    const startedMs = deps.now();
    this.generation += 1;
    const watch = new Map<number, number>();
    for (let i = 0; i + 1 < (request.watch?.length ?? 0); i += 2) watch.set(request.watch![i]!, request.watch![i + 1]!);
    const pass: ScanPass = {
      nowMs: startedMs,
      watch,
      counts: { processes: 0, vanished: 0, cmdlineReads: 0, errors: { eacces: 0, parse: 0, other: 0 } },
      wanted: [],
      lineage: this.lineage.cleared(),
      containerId: request.containerId || null,
      members: [],
    };
    let names: string[];
    try {
      names = deps.fs.readdirSync(opts.root);
    } catch (err) {
      throw new Error(`cannot list WATCHDOG_PROC_ROOT ${opts.root}: ${(err as Error).message}`, { cause: err });
    }
    for (const name of names) {
      const first = name.charCodeAt(0);
      if (first >= 48 && first <= 57 && /^\d+$/.test(name)) this.visit(pass, Number(name));
    }
    for (const [pid, entry] of cache) if (entry.generation !== this.generation) cache.delete(pid);
    this.reader.keepOnly((pid) => cache.has(pid));
    this.readResources(pass);
    const commOf = (pid: number): string | null => cache.get(pid)?.comm ?? null;
    const candidates: MatchedProcess[] = [];
    const watched: ScannedProcess[] = [];
    for (const { stat, entry } of pass.wanted) {
      const { locks, ports } = entry.resources ?? { locks: [], ports: [] };
      const facts = { ...stat, argv: entry.argv ?? [], parentComm: commOf(stat.ppid), locks, ports };
      if (entry.match === null) watched.push({ ...facts, match: null });
      else candidates.push({ ...facts, match: entry.match });
    }
    const { lineage, members, counts } = pass;
    const probes = this.ns.probe(request.probePids ?? []);
    return { candidates, watched, lineage: lineage.take(), members, probes, ...counts, durationMs: deps.now() - startedMs };
  }

  /** Closes the stat files kept open between scans. */
  close(): void {
    this.reader.stopKeeping();
  }

  /** One pid: its stat (the cache when unchanged), its cmdline when new or due, its match; its facts when wanted. */
  private visit(pass: ScanPass, pid: number): void {
    const known = this.cache.get(pid);
    if (known?.match === null && pass.nowMs < known.statAtMs && this.reader.isKept(pid) && !pass.watch.has(pid)) {
      // the same process until its kept fd says otherwise: its start time cannot change, an exec shows at the next read
      pass.lineage.push(pid, known.key.ppid, known.key.startTicks);
      pass.counts.processes += 1;
      known.generation = this.generation;
      this.ns.noteMember(pass, pid, known);
      return;
    }
    const read = this.reader.read(pid, `${this.opts.root}/${pid}/stat`);
    if ('error' in read) {
      if (read.error === 'vanished') pass.counts.vanished += 1;
      else pass.counts.errors[read.error] += 1;
      return;
    }
    const { buf } = this.reader;
    const key: StatKey = { ppid: 0, startTicks: 0, codeStart: 0, codeEnd: 0, commHash: 0 };
    const isKeyed = readStatKey(buf, read.bytes, key);
    if (isKeyed) pass.lineage.push(pid, key.ppid, key.startTicks);
    const isWatched = isKeyed && pass.watch.get(pid) === key.startTicks;
    let entry = isKeyed ? this.cache.get(pid) : undefined;
    let stat: ProcStat | null = null;
    if (entry === undefined || !isSameKey(entry.key, key) || pass.nowMs >= entry.recheckAtMs) {
      stat = parseStat(buf.toString('latin1', 0, read.bytes));
      entry = this.matchAfresh(pass, pid, isKeyed ? key : null, stat, isWatched);
      if (entry === undefined) return;
    }
    pass.counts.processes += 1;
    entry.key.ppid = key.ppid;
    entry.statAtMs = this.dueAt(pass, STAT_RECHECK_MS);
    entry.generation = this.generation;
    this.ns.noteMember(pass, pid, entry);
    if (entry.match === null && !isWatched) return;
    stat ??= parseStat(buf.toString('latin1', 0, read.bytes));
    entry.argv ??= this.readArgv(pass, pid);
    if (stat !== null && entry.argv !== null) pass.wanted.push({ stat, entry });
  }

  /** A new process, an exec, or a re-check due: its cmdline read and matched; undefined when it is gone or unreadable. */
  private matchAfresh(pass: ScanPass, pid: number, key: StatKey | null, stat: ProcStat | null, isWatched: boolean): CacheEntry | undefined {
    if (stat === null || key === null) {
      pass.counts.errors.parse += 1;
      this.reader.release(pid);
      return undefined;
    }
    pass.counts.cmdlineReads += 1;
    const argv = this.readArgv(pass, pid);
    if (argv === null) {
      this.cache.delete(pid);
      this.reader.release(pid);
      return undefined;
    }
    const match = this.matcher.match(argv);
    // a re-check keeps what never changes for the same process: its container, NSpid and resources
    const same = this.cache.get(pid);
    const kept = same && isSameKey(same.key, key) ? same : undefined;
    const entry: CacheEntry = {
      key,
      comm: stat.comm,
      match,
      argv: match !== null || isWatched ? argv : null,
      recheckAtMs: this.dueAt(pass, this.opts.recheckMs),
      statAtMs: 0,
      generation: this.generation,
      containerCheck: kept?.containerCheck,
      nsPids: kept?.nsPids,
      resources: kept?.resources,
    };
    this.cache.set(pid, entry);
    return entry;
  }

  /** NUL-separated argv; invalid UTF-8 becomes U+FFFD instead of failing the scan. null: the process vanished. */
  private readArgv(pass: ScanPass, pid: number): string[] | null {
    const { cmdBuf } = this;
    const read = readFileInto(this.deps.fs, `${this.opts.root}/${pid}/cmdline`, cmdBuf, this.opts.cmdlineMaxBytes);
    if ('error' in read) {
      if (read.error === 'vanished') pass.counts.vanished += 1;
      else pass.counts.errors[read.error] += 1;
      return read.error === 'vanished' ? null : [];
    }
    let end = read.bytes;
    while (end > 0 && cmdBuf[end - 1] === 0) end -= 1;
    return end === 0 ? [] : cmdBuf.toString('utf8', 0, end).split('\0');
  }

  /** `ms` from now, jittered to 50–100 %: re-reads spread over the scans instead of coming all at once. */
  private dueAt(pass: ScanPass, ms: number): number {
    return pass.nowMs + ms * (0.5 + this.deps.random() * 0.5);
  }

  /** Locks and ports of the wanted processes that are new or due, watched ones first (what a finished run left holds them). */
  private readResources(pass: ScanPass): void {
    const due = pass.wanted
      .filter((w) => w.entry.resources === undefined || pass.nowMs >= w.entry.resources.recheckAtMs)
      .sort((a, b) => Number(a.entry.match !== null) - Number(b.entry.match !== null))
      .slice(0, MAX_RESOURCE_READS);
    if (due.length === 0) return;
    const pids = due.map((w) => w.stat.pid);
    const locks = readHeldLocks(pids, this.opts.root);
    const ports = readListeningPorts(pids, this.opts.root);
    for (const { stat, entry } of due) {
      entry.resources = {
        locks: locks.get(stat.pid) ?? [],
        ports: ports.get(stat.pid) ?? [],
        recheckAtMs: this.dueAt(pass, this.opts.recheckMs),
      };
    }
  }
}
