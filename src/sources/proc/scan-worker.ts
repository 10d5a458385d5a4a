import { readFileSync, statfsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { openFilesSoftLimit } from '../../proc/open-files.js';
import { parseStat } from '../../proc/parse-stat.js';
import { isKernelThreadStat, parseStatusIds } from '../../proc/pid-namespace.js';
import { enableLinearEngine } from '../../safe-regex.js';
import { createMatcher, programOf } from './program.js';
import { classifyReadError, createStatReader, readFileInto, statIdentity } from './scan-reads.js';
import { createNsReads } from './scan-namespaces.js';
import { createScanner, readArgv, scanOnce, visitPid, type PidViewRequest, type ScanResult, type ScannerOptions } from './scanner.js';

/**
 * The worker runs the scanner's own source text (both functions are self-contained), so the
 * same code runs from dist/ and under vitest without a TypeScript loader for workers.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
require('node:v8').setFlagsFromString('--enable-experimental-regexp-engine');
const parseStat = ${parseStat.toString()};
const programOf = ${programOf.toString()};
const createMatcher = ${createMatcher.toString()};
const statIdentity = ${statIdentity.toString()};
const classifyReadError = ${classifyReadError.toString()};
const readFileInto = ${readFileInto.toString()};
const createStatReader = ${createStatReader.toString()};
const createScanner = ${createScanner.toString()};
const scanOnce = ${scanOnce.toString()};
const visitPid = ${visitPid.toString()};
const readArgv = ${readArgv.toString()};
const createNsReads = ${createNsReads.toString()};
const parseStatusIds = ${parseStatusIds.toString()};
const isKernelThreadStat = ${isKernelThreadStat.toString()};
const scanner = createScanner(
  { fs, parseStat, programOf, createMatcher, statIdentity, createStatReader, createNsReads, parseStatusIds, isKernelThreadStat, now: Date.now, random: Math.random },
  workerData,
);
parentPort.on('message', (msg) => {
  if (msg === 'close') {
    scanner.close();
    parentPort.postMessage({ id: 'close' });
    return;
  }
  const { id, request } = msg;
  try {
    parentPort.postMessage({ id, result: scanner.scan(request) });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) });
  }
});
`;

interface Running {
  worker: Worker;
  exited: Promise<void>;
  pending: Map<number, { resolve: (r: ScanResult) => void; reject: (e: Error) => void }>;
}

interface Reply {
  id: number | 'close';
  result?: ScanResult;
  error?: string;
}

/**
 * Owns one scan thread and its (pid, starttime) cache. A scan that outlives its abort signal
 * (a /proc read stuck on a hung process) terminates the thread; the next scan starts a new one.
 */
class ScanThread {
  private current: Running | null = null;
  /** A replaced thread that has not exited: its read is blocked in the kernel, where terminate() cannot reach. */
  private stuck: Running | null = null;
  private nextId = 1;

  constructor(private readonly opts: ScannerOptions) {}

  private start(): Running {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: this.opts, name: 'proc-scan' });
    worker.unref();
    // waiters belong to their thread: a replaced thread's exit must not fail the new one's scans
    const running: Running = { worker, exited: new Promise((resolve) => worker.once('exit', () => resolve())), pending: new Map() };
    worker.on('message', (reply: Reply) => {
      if (reply.id === 'close') return;
      const waiter = running.pending.get(reply.id);
      if (!waiter) return;
      running.pending.delete(reply.id);
      if (reply.result) waiter.resolve(reply.result);
      else waiter.reject(new Error(reply.error ?? 'proc scan failed'));
    });
    const fail = (err: Error): void => {
      if (this.current === running) this.current = null;
      for (const waiter of running.pending.values()) waiter.reject(err);
      running.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.stuck === running) this.stuck = null;
      fail(new Error(`proc scan worker exited with code ${code}`));
    });
    this.current = running;
    return running;
  }

  scan(abortSignal?: AbortSignal, request?: PidViewRequest): Promise<ScanResult> {
    if (abortSignal?.aborted) return Promise.reject(new Error('proc scan aborted before it started'));
    // One thread stuck on a hung process is enough: a fresh one would block on the same read, every tick
    // (threads, memory and kept fds grew without bound). Wait for it to exit, at most until this scan's budget ends.
    if (this.stuck) return this.afterStuck(this.stuck, abortSignal).then(() => this.scan(abortSignal, request));
    const running = this.current ?? this.start();
    const { worker, pending } = running;
    const id = this.nextId++;
    worker.ref();
    return new Promise<ScanResult>((resolve, reject) => {
      const onAbort = (): void => {
        pending.delete(id);
        // a read stuck in the kernel cannot be cancelled; drop the thread and its cache (its kept
        // fds stay open until exit: only a hung /proc read gets here)
        if (this.current === running) this.current = null;
        this.stuck = running;
        void worker.terminate();
        reject(new Error('proc scan timed out; the scan thread was replaced'));
      };
      abortSignal?.addEventListener('abort', onAbort, { once: true });
      const settle = (): void => {
        abortSignal?.removeEventListener('abort', onAbort);
        if (pending.size === 0) worker.unref();
      };
      pending.set(id, {
        resolve: (r) => {
          settle();
          resolve(r);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      });
      worker.postMessage({ id, request });
    });
  }

  get hasStuckThread(): boolean {
    return this.stuck !== null;
  }

  private afterStuck(stuck: Running, abortSignal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(new Error('proc scan skipped: the previous scan thread is still blocked in a /proc read'));
      abortSignal?.addEventListener('abort', onAbort, { once: true });
      void stuck.exited.then(() => {
        abortSignal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  /** Lets the thread close the stat files it keeps open (fds are process-wide), then ends it. */
  async close(): Promise<void> {
    const running = this.current;
    this.current = null;
    if (!running) return;
    const { worker } = running;
    if (running.pending.size === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        worker.on('message', (reply: Reply) => {
          if (reply.id !== 'close') return;
          clearTimeout(timer);
          resolve();
        });
        worker.postMessage('close');
      });
    }
    await worker.terminate();
  }
}

/** A quarter of this process's open-file limit, at most 16,384: room for every socket the app needs. */
export function heldFdBudget(limitsText: string): number {
  return heldFdBudgetOf(openFilesSoftLimit(limitsText));
}

/** The same from the soft limit itself (null: unknown, nothing is kept open). */
export function heldFdBudgetOf(softLimit: number | null): number {
  return softLimit === null ? 0 : Math.min(16_384, Math.floor(softLimit / 4));
}

const PROC_SUPER_MAGIC = 0x9fa0;

/** Only procfs fds go stale with their process (ESRCH); a fixture tree's files would not. */
function readHeldFdBudget(root: string): number {
  try {
    if (statfsSync(root).type !== PROC_SUPER_MAGIC) return 0;
    return heldFdBudget(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return 0;
  }
}

/** Merges shard results: counts add up, the scan took as long as its slowest shard. */
export function mergeScans(parts: readonly ScanResult[]): ScanResult {
  const out: ScanResult = {
    candidates: [],
    processes: 0,
    vanished: 0,
    cmdlineReads: 0,
    errors: { eacces: 0, parse: 0, other: 0 },
    durationMs: 0,
    lineage: [],
    members: [],
    probes: [],
  };
  for (const p of parts) {
    out.candidates.push(...p.candidates);
    out.members.push(...p.members);
    out.probes.push(...p.probes);
    for (const n of p.lineage) out.lineage.push(n);
    out.processes += p.processes;
    out.vanished += p.vanished;
    out.cmdlineReads += p.cmdlineReads;
    out.errors.eacces += p.errors.eacces;
    out.errors.parse += p.errors.parse;
    out.errors.other += p.errors.other;
    out.durationMs = Math.max(out.durationMs, p.durationMs);
  }
  return out;
}

/**
 * The /proc scan on one thread by default; more threads each own the pids of a shard
 * (pid % threads) with their cache and kept-open fds. On a busy 2-core host a second thread
 * did not pay off (docs/benchmarks.md), so it is opt-in.
 */
export class ScanWorker {
  private readonly threads: ScanThread[];

  constructor(opts: ScannerOptions, threads = 1) {
    enableLinearEngine();
    const count = Math.max(1, Math.min(threads, availableParallelism()));
    const maxHeldFds = Math.floor((opts.maxHeldFds ?? readHeldFdBudget(opts.root)) / count);
    this.threads = Array.from(
      { length: count },
      (_, index) => new ScanThread({ ...opts, maxHeldFds, ...(count > 1 ? { shard: { index, count } } : {}) }),
    );
  }

  async scan(abortSignal?: AbortSignal, request?: PidViewRequest): Promise<ScanResult> {
    return mergeScans(await Promise.all(this.threads.map((t) => t.scan(abortSignal, request))));
  }

  /** A thread blocked in a /proc read: the process cannot exit normally until the read returns. */
  get hasStuckThread(): boolean {
    return this.threads.some((t) => t.hasStuckThread);
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
