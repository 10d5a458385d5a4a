import { Worker } from 'node:worker_threads';
import { enableLinearEngine, whyNotLinear, type RejectedPattern } from '../safe-regex.js';
import type { ProcResult } from '../runner/run.js';

/**
 * What a re-test's output says about locks, read in bounded time whatever it printed: only the
 * tail of each stream, cut into short windows, through V8's linear-time regexp engine (the
 * default engine was cubic on "Timeoutacquir"×2000 and froze the server for 27 s).
 */
export interface OutputFacts {
  lockMentioned: boolean;
  /** Absolute paths named on the lines that mention a lock, or that look like lock/db files. */
  lockPaths: string[];
  /** A test runner's summary line is there (so the suite ran and its verdict counts). */
  testsRan: boolean;
}

export const SCAN_TAIL_CHARS = 64 * 1024;
/** The linear engine still costs ~line² on hostile input: 256-char windows keep 64 KiB under ~30 ms. */
export const SCAN_WINDOW_CHARS = 256;
/** Above this much bounded text the scan runs in a worker thread. */
export const SCAN_INLINE_MAX_CHARS = 16 * 1024;
const SCAN_WORKER_TIMEOUT_MS = 10_000;

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

// One source for both threads: the worker evaluates this same text, so inline and off-thread scans agree.
const SCAN_SOURCE = String.raw`(stdout, stderr, sources, tailChars, windowChars) => {
  const patterns = sources.map((s) => new RegExp(s, 'l'));
  const summary = /\b\d+ (passed|failed|errors?)\b|\bRan \d+ tests?\b|^Tests: .*\d+ total|^# (pass|fail) +\d+|\btests? (passed|failed)\b/;
  const lockFile = /\.(lock|lck|db|sqlite3?|pid)$|\/LOCK$/;
  const pathRe = /(?:^|[\s'"\x60(=])(\/[^\s'"\x60()<>:,;]{1,1024})/g;
  const paths = new Set();
  let lockMentioned = false;
  let testsRan = false;
  const step = Math.floor(windowChars * 3 / 4);
  for (const text of [stderr, stdout]) {
    for (const line of text.slice(-tailChars).split('\n')) {
      let hit = false;
      for (let at = 0; at === 0 || at + windowChars - step < line.length; at += step) {
        const w = line.slice(at, at + windowChars);
        if (!hit && patterns.some((p) => p.test(w))) hit = true;
        if (!testsRan && summary.test(w)) testsRan = true;
        for (const m of w.matchAll(pathRe)) {
          const p = m[1].replace(/[.'"]+$/, '');
          if ((hit || lockFile.test(p)) && paths.size < 20) paths.add(p);
        }
      }
      if (hit) lockMentioned = true;
    }
  }
  return { lockMentioned, lockPaths: [...paths], testsRan };
}`;

type ScanFn = (stdout: string, stderr: string, sources: string[], tailChars: number, windowChars: number) => OutputFacts;
let inlineScan: ScanFn | null = null;

/** The scan on this thread: bounded (at most ~60 ms on hostile text); the CLI and small outputs use it. */
export function scanOutput(result: Pick<ProcResult, 'stdout' | 'stderr'>, sources: readonly string[]): OutputFacts {
  enableLinearEngine();
  // The same constant source the worker evaluates, so both paths run one scanner; no input reaches it.
  // eslint-disable-next-line @typescript-eslint/no-implied-eval, @typescript-eslint/no-unsafe-call
  inlineScan ??= new Function(`return ${SCAN_SOURCE}`)() as ScanFn;
  return inlineScan(result.stdout, result.stderr, [...sources], SCAN_TAIL_CHARS, SCAN_WINDOW_CHARS);
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const scan = ${SCAN_SOURCE};
const d = workerData;
parentPort.postMessage(scan(d.stdout, d.stderr, d.sources, d.tailChars, d.windowChars));
`;

/** Bounded text first; only a large remainder goes to a worker, so the event loop never runs the patterns over much. */
export async function scanOutputOffThread(result: Pick<ProcResult, 'stdout' | 'stderr'>, sources: readonly string[]): Promise<OutputFacts> {
  const stdout = result.stdout.slice(-SCAN_TAIL_CHARS);
  const stderr = result.stderr.slice(-SCAN_TAIL_CHARS);
  if (stdout.length + stderr.length <= SCAN_INLINE_MAX_CHARS) return scanOutput({ stdout, stderr }, sources);
  enableLinearEngine();
  const workerData = { stdout, stderr, sources: [...sources], tailChars: SCAN_TAIL_CHARS, windowChars: SCAN_WINDOW_CHARS };
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData, name: 'merge-gate-output-scan' });
  try {
    return await new Promise<OutputFacts>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`output scan took over ${SCAN_WORKER_TIMEOUT_MS} ms`)), SCAN_WORKER_TIMEOUT_MS);
      worker.once('message', (facts: OutputFacts) => {
        clearTimeout(timer);
        resolve(facts);
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
