import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { parseStat } from './parse-stat.js';
import { createScanner, type ScanResult, type ScannerOptions } from './scanner.js';

/**
 * The worker runs the scanner's own source text (both functions are self-contained), so the
 * same code runs from dist/ and under vitest without a TypeScript loader for workers.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const parseStat = ${parseStat.toString()};
const createScanner = ${createScanner.toString()};
const scanner = createScanner({ fs, parseStat, now: Date.now, random: Math.random }, workerData);
parentPort.on('message', (id) => {
  try {
    parentPort.postMessage({ id, result: scanner.scan() });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) });
  }
});
`;

interface Reply {
  id: number;
  result?: ScanResult;
  error?: string;
}

/**
 * Owns one scan thread and its (pid, starttime) cache. A scan that outlives its abort signal
 * (a /proc read stuck on a hung process) terminates the thread; the next scan starts a new one.
 */
class ScanThread {
  private worker: Worker | null = null;
  private nextId = 1;
  private pending = new Map<number, { resolve: (r: ScanResult) => void; reject: (e: Error) => void }>();

  constructor(private readonly opts: ScannerOptions) {}

  private start(): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: this.opts, name: 'proc-scan' });
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (reply.result) waiter.resolve(reply.result);
      else waiter.reject(new Error(reply.error ?? 'proc scan failed'));
    });
    const fail = (err: Error): void => {
      if (this.worker === worker) this.worker = null;
      for (const waiter of this.pending.values()) waiter.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`proc scan worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  scan(abortSignal?: AbortSignal): Promise<ScanResult> {
    if (abortSignal?.aborted) return Promise.reject(new Error('proc scan aborted before it started'));
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    worker.ref();
    return new Promise<ScanResult>((resolve, reject) => {
      const onAbort = (): void => {
        this.pending.delete(id);
        // a read stuck in the kernel cannot be cancelled; drop the thread and its cache
        if (this.worker === worker) this.worker = null;
        void worker.terminate();
        reject(new Error('proc scan timed out; the scan thread was replaced'));
      };
      abortSignal?.addEventListener('abort', onAbort, { once: true });
      const settle = (): void => {
        abortSignal?.removeEventListener('abort', onAbort);
        if (this.pending.size === 0) worker.unref();
      };
      this.pending.set(id, {
        resolve: (r) => {
          settle();
          resolve(r);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      });
      worker.postMessage(id);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }
}

/** Merges shard results: counts add up, the scan took as long as its slowest shard. */
export function mergeScans(parts: readonly ScanResult[]): ScanResult {
  const out: ScanResult = { candidates: [], processes: 0, vanished: 0, cmdlineReads: 0, errors: { eacces: 0, parse: 0, other: 0 }, durationMs: 0 };
  for (const p of parts) {
    out.candidates.push(...p.candidates);
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
 * The /proc scan on up to two threads, each owning the pids of its shard (pid % threads) and
 * their cache: /proc reads are syscall-bound, so two cores halve the wall time of a scan.
 */
export class ScanWorker {
  private readonly threads: ScanThread[];

  constructor(opts: ScannerOptions, threads = Math.min(2, availableParallelism())) {
    const count = Math.max(1, threads);
    this.threads = Array.from({ length: count }, (_, index) => new ScanThread(count > 1 ? { ...opts, shard: { index, count } } : opts));
  }

  async scan(abortSignal?: AbortSignal): Promise<ScanResult> {
    return mergeScans(await Promise.all(this.threads.map((t) => t.scan(abortSignal))));
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
