import { Worker } from 'node:worker_threads';
import { workerModule } from '../../worker-module.js';
import type { ScannerOptions, ScanRequest, ScanResult } from './scanner.js';

interface Running {
  worker: Worker;
  exited: Promise<void>;
  pending: Map<number, (reply: Reply | Error) => void>;
}

interface Reply {
  id: number | 'close';
  result?: ScanResult;
  error?: string;
}

/** The /proc scan on its own thread (scan-thread.ts); a scan that outlives its abort signal (a read stuck on a hung process) ends the thread. */
export class ScanWorker {
  private current: Running | null = null;
  /** A replaced thread that has not exited: its read is blocked in the kernel, where terminate() cannot reach. */
  private stuck: Running | null = null;
  private nextId = 1;

  constructor(private readonly opts: ScannerOptions) {}

  private start(): Running {
    const worker = new Worker(workerModule('./scan-thread.js', import.meta.url), { workerData: this.opts, name: 'proc-scan' });
    worker.unref();
    // waiters belong to their thread: a replaced thread's exit must not fail the new one's scans
    const running: Running = { worker, exited: new Promise((resolve) => worker.once('exit', () => resolve())), pending: new Map() };
    worker.on('message', (reply: Reply) => {
      if (reply.id !== 'close') running.pending.get(reply.id)?.(reply);
    });
    const fail = (err: Error): void => {
      if (this.current === running) this.current = null;
      for (const waiter of running.pending.values()) waiter(err);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.stuck === running) this.stuck = null;
      fail(new Error(`proc scan worker exited with code ${code}`));
    });
    this.current = running;
    return running;
  }

  async scan(abortSignal?: AbortSignal, request: ScanRequest = {}): Promise<ScanResult> {
    if (abortSignal?.aborted) throw new Error('proc scan aborted before it started');
    // one stuck thread is enough: a fresh one would block on the same read, every tick (threads and kept fds grew without bound)
    if (this.stuck) {
      await this.untilAbort(this.stuck.exited, abortSignal, 'proc scan skipped: the previous scan thread is still blocked in a /proc read');
      return this.scan(abortSignal, request);
    }
    const running = this.current ?? this.start();
    const { worker, pending } = running;
    const id = this.nextId++;
    worker.ref();
    const replied = new Promise<Reply | Error>((resolve) => pending.set(id, resolve));
    worker.postMessage({ id, request });
    try {
      const reply = await this.untilAbort(replied, abortSignal, 'proc scan timed out; the scan thread was replaced', () => {
        // a read stuck in the kernel cannot be cancelled: drop the thread (its kept fds stay open until it exits)
        if (this.current === running) this.current = null;
        this.stuck = running;
        void worker.terminate();
      });
      if (reply instanceof Error) throw reply;
      if (!reply.result) throw new Error(reply.error ?? 'proc scan failed');
      return reply.result;
    } finally {
      pending.delete(id);
      if (pending.size === 0) worker.unref();
    }
  }

  /** `promise`, or a rejection with `message` once `abortSignal` fires (after `onAbort`). */
  private untilAbort<T>(promise: Promise<T>, abortSignal: AbortSignal | undefined, message: string, onAbort?: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const abort = (): void => {
        onAbort?.();
        reject(new Error(message));
      };
      abortSignal?.addEventListener('abort', abort, { once: true });
      void promise.then((value) => {
        abortSignal?.removeEventListener('abort', abort);
        resolve(value);
      });
    });
  }

  /** A thread blocked in a /proc read: the process cannot exit normally until the read returns. */
  get hasStuckThread(): boolean {
    return this.stuck !== null;
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
