import { Worker } from 'node:worker_threads';
import { enableLinearEngine, whyNotLinear, type RejectedPattern } from '../safe-regex.js';
import type { ProcResult } from '../runner/run.js';
import { workerModule } from '../worker-module.js';

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
