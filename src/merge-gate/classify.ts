import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { parseLocks, readFds } from '../proc/fds.js';
import { processAgeS, readBootTimeS, readClockTicks, readCmdline, readStat } from '../proc/read-proc.js';
import { redactCommandLine } from '../redact.js';
import type { ProcResult } from '../runner/run.js';
import { enableLinearEngine, whyNotLinear, type RejectedPattern } from '../safe-regex.js';
import { workerModule } from '../worker-module.js';
import type { KnownAs, LockHolder, Outcome, RunEvidence } from './types.js';

type ClassifiedOutcome = Exclude<Outcome, 'skipped' | 'cancelled'>;

/** `holderFound`: someone outside the run held the lock file or worked in the checkout (see walkLockHolders). */
export type LockFacts = OutputFacts & { holderFound: boolean };

export const NO_LOCK_FACTS: LockFacts = { lockMentioned: false, lockPaths: [], testsRan: false, holderFound: false };

/**
 * The incident: an infra timeout under CPU starvation was read as a red and a green branch rolled back. So only exit 1
 * is red; a timeout, a held lock, and a run that never tested the branch (spawn failure, 126/127, a SIGKILL the gate
 * did not send: the OOM killer) are infra. A red suite that prints "database is locked" in one failing test is still red.
 */
export function classify(evidence: RunEvidence, lock: LockFacts): ClassifiedOutcome {
  const { result } = evidence;
  if (evidence.spawnError) return 'infra';
  if (result.timed_out) return 'timeout';
  if (result.returncode === 0 && result.signal === null) return 'pass';
  const killedByGate = evidence.killedByGate ?? evidence.aborted === true;
  if (evidence.oomKilled) return 'infra';
  if (result.signal === 'SIGKILL' && !killedByGate) return 'infra';
  if (result.returncode === 126 || result.returncode === 127) return 'infra';
  if (result.returncode !== null && lock.lockMentioned && (lock.holderFound || !lock.testsRan)) return 'lock_busy';
  if (result.returncode === 1) return 'red';
  return 'other';
}

/** `lockHolders`: who holds the lock, filled for lock_busy. */
export type Judge = (evidence: RunEvidence, cwd: string) => Promise<{ outcome: ClassifiedOutcome; lockHolders: LockHolder[] }>;

/** Output scan and lock-holder walk off the event loop, then classify; a pattern the linear engine cannot run is logged and left out. */
export function gateJudge(
  lockPatterns: readonly string[],
  log: Logger,
  findLockHolders: LockHolderFinder = procLockHolderFinder(),
  knownAs: (pid: number) => KnownAs | null = () => null,
): Judge {
  const patterns = compileLockPatterns(lockPatterns);
  for (const r of patterns.rejected)
    log.warn({ pattern: r.source, reason: r.reason }, 'merge gate: lock pattern ignored (it cannot run in linear time)');
  return async (evidence, cwd) => {
    const ended = evidence.result;
    let facts: OutputFacts = NO_LOCK_FACTS;
    if (ended.returncode !== null && ended.returncode !== 0 && !ended.timed_out && !evidence.spawnError) {
      facts = await scanOutputOffThread(ended, patterns.sources).catch((err: unknown) => {
        log.warn({ err }, 'merge gate: output scan failed; no lock evidence');
        return NO_LOCK_FACTS;
      });
    }
    let lockHolders: LockHolder[] = [];
    if (facts.lockMentioned) {
      const raw = await findLockHolders({ paths: facts.lockPaths, cwd }).catch((err: unknown) => {
        log.warn({ err }, 'merge gate: lock holder scan failed');
        return [];
      });
      lockHolders = toLockHolders(raw, knownAs);
    }
    const outcome = classify(evidence, { ...facts, holderFound: lockHolders.length > 0 });
    return { outcome, lockHolders: outcome === 'lock_busy' ? lockHolders : [] };
  };
}

/** What the output says about locks, in bounded time: stream tails in short windows, linear-time regexps (the default engine froze the server 27 s). */
export interface OutputFacts {
  lockMentioned: boolean;
  /** Absolute paths named on the lines that mention a lock, or that look like lock/db files. */
  lockPaths: string[];
  /** A test runner's summary line is there (so the suite ran and its verdict counts). */
  testsRan: boolean;
}

type Output = Pick<ProcResult, 'stdout' | 'stderr'>;

const SCAN_TAIL_CHARS = 64 * 1024;
/** The linear engine still costs ~line² on hostile input: 256-char windows keep 64 KiB under ~30 ms. */
const SCAN_WINDOW_CHARS = 256;
/** Above this much bounded text the scan runs on a worker thread. */
const SCAN_INLINE_MAX_CHARS = 16 * 1024;
const SCAN_THREAD_TIMEOUT_MS = 10_000;
const MAX_LOCK_PATHS = 20;

// Each is linear on one window under the backtracking engine (no nested or adjacent open repetition).
const SUMMARY = /\b\d+ (passed|failed|errors?)\b|\bRan \d+ tests?\b|^Tests: .*\d total|^# (pass|fail) +\d+|\btests? (passed|failed)\b/;
const LOCK_FILE = /\.(lock|lck|db|sqlite3?|pid)$|\/LOCK$/;
const ABSOLUTE_PATH = /(?:^|[\s'"`(=])(\/[^\s'"`()<>:,;]+)/g;

/** Compiles lock patterns for the linear engine; a pattern it cannot run (backreference, lookaround) is rejected. */
export function compileLockPatterns(sources: readonly string[]): { sources: string[]; rejected: RejectedPattern[] } {
  const ok: string[] = [];
  const rejected: RejectedPattern[] = [];
  for (const source of sources) {
    const reason = whyNotLinear(source);
    if (reason === null) ok.push(source);
    else rejected.push({ source, reason });
  }
  return { sources: ok, rejected };
}

/** The windows of one line: WINDOW chars each, overlapping by a quarter so a match across a cut is still seen. */
function* windowsOf(line: string): Generator<string> {
  const step = Math.floor((SCAN_WINDOW_CHARS * 3) / 4);
  for (let at = 0; at === 0 || at + SCAN_WINDOW_CHARS - step < line.length; at += step) yield line.slice(at, at + SCAN_WINDOW_CHARS);
}

/** The scan on this thread: bounded (at most ~60 ms on hostile text); the CLI and small outputs use it. */
export function scanOutput(result: Output, sources: readonly string[]): OutputFacts {
  enableLinearEngine();
  const patterns = sources.map((s) => new RegExp(s, 'l'));
  const paths = new Set<string>();
  let lockMentioned = false;
  let testsRan = false;
  for (const text of [result.stderr, result.stdout]) {
    for (const line of text.slice(-SCAN_TAIL_CHARS).split('\n')) {
      let hit = false;
      for (const w of windowsOf(line)) {
        hit ||= patterns.some((p) => p.test(w));
        testsRan ||= SUMMARY.test(w);
        for (const m of w.matchAll(ABSOLUTE_PATH)) {
          const path = m[1]!.replace(/[.'"]+$/, '');
          if ((hit || LOCK_FILE.test(path)) && paths.size < MAX_LOCK_PATHS) paths.add(path);
        }
      }
      lockMentioned ||= hit;
    }
  }
  return { lockMentioned, lockPaths: [...paths], testsRan };
}

/** What thread.ts gets for a scan. */
export interface ScanJob {
  output: Output;
  sources: string[];
}

/** Runs thread.ts once on `job` and resolves with its one answer; a thread stuck past `timeoutMs` (a hung /proc read) is ended. */
export async function runThreadJob<T>(job: object, timeoutMs: number): Promise<T> {
  const worker = new Worker(workerModule('./thread.js', import.meta.url), { workerData: job, name: 'merge-gate thread' });
  try {
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`merge-gate thread took over ${timeoutMs} ms`)), timeoutMs);
      worker.once('message', (answer: T) => {
        clearTimeout(timer);
        resolve(answer);
      });
      worker.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  } finally {
    void worker.terminate();
  }
}

/** Bounded text first; only a large remainder goes to a worker thread, so the event loop never runs the patterns over much. */
export async function scanOutputOffThread(result: Output, sources: readonly string[]): Promise<OutputFacts> {
  const output = { stdout: result.stdout.slice(-SCAN_TAIL_CHARS), stderr: result.stderr.slice(-SCAN_TAIL_CHARS) };
  if (output.stdout.length + output.stderr.length <= SCAN_INLINE_MAX_CHARS) return scanOutput(output, sources);
  enableLinearEngine();
  return runThreadJob<OutputFacts>({ output, sources: [...sources] }, SCAN_THREAD_TIMEOUT_MS);
}

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
