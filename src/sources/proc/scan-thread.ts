import { parentPort, workerData } from 'node:worker_threads';
import { Scanner, type ScannerOptions, type ScanRequest } from './scanner.js';

/** The scan worker's thread: one Scanner (its cache and kept fds live here), one scan per request. */
const scanner = new Scanner(workerData as ScannerOptions);
const port = parentPort!;

port.on('message', (msg: { id: number; request: ScanRequest } | 'close') => {
  if (msg === 'close') {
    scanner.close();
    port.postMessage({ id: 'close' });
    return;
  }
  try {
    const result = scanner.scan(msg.request);
    port.postMessage({ id: msg.id, result }, [result.lineage.buffer]);
  } catch (err) {
    port.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
  }
});
