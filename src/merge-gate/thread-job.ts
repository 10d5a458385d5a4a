import { Worker } from 'node:worker_threads';
import { workerModule } from '../worker-module.js';

/**
 * Runs the worker module `file` (beside this one) once with `workerData` and resolves with the one
 * message it posts: the gate's verdict work stays off the event loop. A thread that does not
 * answer within `timeoutMs` (a /proc read stuck on a hung process) is terminated.
 */
export async function runThreadJob<T>(file: string, workerData: unknown, timeoutMs: number): Promise<T> {
  const worker = new Worker(workerModule(file, import.meta.url), { workerData, name: `merge-gate ${file}` });
  try {
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${file} took over ${timeoutMs} ms`)), timeoutMs);
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
