import * as nodeFs from 'node:fs';
import { readHeldLocks, readListeningPorts, type HeldLock } from '../../proc/fds.js';
import { isKernelThreadStat, parseStat, parseStatusIds, type ProcStat } from '../../proc/parse-stat.js';
import { splitArgv } from '../../proc/read-proc.js';
import type { NsMember, PidProbe, PidViewRequest } from '../../watchdog/agent-directory.js';
import { createMatcher, type Matcher, type MatcherOptions, type MatchMode } from './program.js';
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
const MAX_RESOURCE_READS = 256;

/** A process that neither matches nor is watched has its stat re-read this often (jittered 50–100 %), not every scan. */
const STAT_RECHECK_MS = 10_000;

export interface ScannerOptions extends MatcherOptions {
  /** WATCHDOG_PROC_ROOT */
  root: string;
  /** a process's cmdline, locks and ports are read again at most this long after they were read (jittered 50–100 %) */
  recheckMs: number;
  cmdlineMaxBytes: number;
  /** stat files kept open between scans; by default a quarter of the open-file limit, none outside procfs */
  maxHeldFds?: number;
}

/** `now` only drives the re-reads, never an age. */
export interface ScannerDeps {
  fs: ScanFs;
  now: () => number;
  random: () => number;
}

/** What one tick asks of the scan besides the walk; `watch`: flat (pid, starttime) pairs whose facts come back while they live. */
export type ScanRequest = Partial<PidViewRequest> & { watch?: readonly number[] };

/** A matching or watched process: its stat, argv (redacted before it leaves the app), parent's comm (null: unreadable) and resources. */
export interface ScannedProcess extends ProcStat {
  argv: string[];
  match: MatchMode | null;
  parentComm: string | null;
  locks: HeldLock[];
  ports: number[];
}

export type MatchedProcess = ScannedProcess & { match: MatchMode };

export interface ScanResult {
  candidates: MatchedProcess[];
  /** watched processes still alive that do not match */
  watched: ScannedProcess[];
  /** (pid, ppid, starttime) of every process read, flat; transferred without a copy */
  lineage: Float64Array<ArrayBuffer>;
  /** processes of the request's container, and the request's probe pids that exist */
  members: NsMember[];
  probes: PidProbe[];
  /** processes read (or known unchanged); pid directories that vanished while read (not errors); cmdline files read */
  processes: number;
  vanished: number;
  cmdlineReads: number;
  errors: Record<ReadErrorKind, number>;
  durationMs: number;
}

interface CacheEntry {
  /** a new process or an exec changes it */
  key: StatKey;
  comm: string;
  match: MatchMode | null;
  /** kept for matching and watched processes only */
  argv: string[] | null;
  /** when its cmdline is read again; when its stat is, if it neither matches nor is watched */
  recheckAtMs: number;
  statAtMs: number;
  generation: number;
  resources?: { locks: HeldLock[]; ports: number[]; recheckAtMs: number };
  /** never re-read while it is the same process: whether its cgroup names the container checked last, its NSpid */
  containerCheck?: { id: string; isMember: boolean };
  nsPids?: number[] | null;
}

interface ScanPass {
  nowMs: number;
  watch: Map<number, number>;
  counts: Pick<ScanResult, 'processes' | 'vanished' | 'cmdlineReads' | 'errors'>;
  /** the matching and watched processes, whose facts the scan returns */
  wanted: { stat: ProcStat; entry: CacheEntry }[];
  containerId: string | null;
  members: NsMember[];
}

/** The /proc walk of one tick, allocation-light, in the scan worker (a cmdline read blocks on a hung process's mmap lock). */
export class Scanner {
  private readonly matcher: Matcher;
  private readonly reader: StatReader;
  private readonly cmdBuf: Buffer;
  private readonly textBuf = Buffer.allocUnsafe(8192);
  private readonly cache = new Map<number, CacheEntry>();
  private readonly lineage = new LineageBuffer();
  private generation = 0;

  constructor(
    private readonly opts: ScannerOptions,
    private readonly deps: ScannerDeps = { fs: nodeFs, now: Date.now, random: Math.random },
  ) {
    this.matcher = createMatcher(opts);
    this.reader = new StatReader(deps.fs, opts.maxHeldFds ?? readHeldFdBudget(opts.root), Buffer.allocUnsafe(4096));
    this.cmdBuf = Buffer.allocUnsafe(Math.max(256, opts.cmdlineMaxBytes));
  }

  scan(request: ScanRequest = {}): ScanResult {
    const { deps, opts, cache } = this;
    const startedMs = deps.now();
    this.generation += 1;
    this.lineage.cleared();
    const watch = new Map<number, number>();
    for (let i = 0; i + 1 < (request.watch?.length ?? 0); i += 2) watch.set(request.watch![i]!, request.watch![i + 1]!);
    const counts = { processes: 0, vanished: 0, cmdlineReads: 0, errors: { eacces: 0, parse: 0, other: 0 } };
    const pass: ScanPass = { nowMs: startedMs, watch, counts, wanted: [], containerId: request.containerId || null, members: [] };
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
    const candidates: MatchedProcess[] = [];
    const watched: ScannedProcess[] = [];
    for (const { stat, entry } of pass.wanted) {
      const { locks, ports } = entry.resources ?? { locks: [], ports: [] };
      const facts = { ...stat, argv: entry.argv ?? [], parentComm: cache.get(stat.ppid)?.comm ?? null, locks, ports };
      if (entry.match === null) watched.push({ ...facts, match: null });
      else candidates.push({ ...facts, match: entry.match });
    }
    const probes = this.probe(request.probePids ?? []);
    const lineage = this.lineage.take();
    return { candidates, watched, lineage, members: pass.members, probes, ...counts, durationMs: deps.now() - startedMs };
  }

  close(): void {
    this.reader.stopKeeping();
  }

  /** One pid: its stat (the cache when unchanged), its cmdline when new or due, its match; its facts when wanted. */
  private visit(pass: ScanPass, pid: number): void {
    const known = this.cache.get(pid);
    if (known?.match === null && pass.nowMs < known.statAtMs && this.reader.isKept(pid) && !pass.watch.has(pid)) {
      // the same process until its kept fd says otherwise: its start time cannot change, an exec shows at the next read
      this.lineage.push(pid, known.key.ppid, known.key.startTicks);
      pass.counts.processes += 1;
      known.generation = this.generation;
      this.noteMember(pass, pid, known);
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
    if (isKeyed) this.lineage.push(pid, key.ppid, key.startTicks);
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
    this.noteMember(pass, pid, entry);
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

  /** null: the process vanished. */
  private readArgv(pass: ScanPass, pid: number): string[] | null {
    const read = readFileInto(this.deps.fs, `${this.opts.root}/${pid}/cmdline`, this.cmdBuf, this.opts.cmdlineMaxBytes);
    if (!('error' in read)) return splitArgv(this.cmdBuf, read.bytes);
    if (read.error === 'vanished') pass.counts.vanished += 1;
    else pass.counts.errors[read.error] += 1;
    return read.error === 'vanished' ? null : [];
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
      const recheckAtMs = this.dueAt(pass, this.opts.recheckMs);
      entry.resources = { locks: locks.get(stat.pid) ?? [], ports: ports.get(stat.pid) ?? [], recheckAtMs };
    }
  }

  private readText(path: string): string | null {
    const read = readFileInto(this.deps.fs, path, this.textBuf);
    return 'error' in read ? null : this.textBuf.toString('latin1', 0, read.bytes);
  }

  /** Adds `pid` to the members when its cgroup names the requested container; cgroup and NSpid are read once per process. */
  private noteMember(pass: ScanPass, pid: number, entry: CacheEntry): void {
    const id = pass.containerId;
    if (id === null) return;
    const dir = `${this.opts.root}/${pid}`;
    if (entry.containerCheck?.id !== id) entry.containerCheck = { id, isMember: this.readText(`${dir}/cgroup`)?.includes(id) ?? false };
    if (!entry.containerCheck.isMember) return;
    if (entry.nsPids === undefined) {
      const status = this.readText(`${dir}/status`);
      entry.nsPids = status === null ? null : (parseStatusIds(status)?.nsPids ?? null);
    }
    if (entry.nsPids && entry.nsPids.length > 0) pass.members.push({ pid, nsPids: entry.nsPids });
  }

  /** status (Name, PPid, NSpid) and the kernel-thread flag of each asked-for pid that exists. */
  private probe(pids: readonly number[]): PidProbe[] {
    const probes: PidProbe[] = [];
    for (const pid of pids) {
      if (!Number.isSafeInteger(pid) || pid <= 0) continue;
      const status = this.readText(`${this.opts.root}/${pid}/status`);
      const ids = status === null ? null : parseStatusIds(status);
      if (ids === null) continue;
      const stat = this.readText(`${this.opts.root}/${pid}/stat`);
      probes.push({ pid, name: ids.name, ppid: ids.ppid, nsPids: ids.nsPids, isKernelThread: stat !== null && isKernelThreadStat(stat) });
    }
    return probes;
  }
}
