import { parentPort, workerData } from 'node:worker_threads';
import { scanOutput, walkLockHolders, type LockHolderWalk, type ScanJob } from './classify.js';

// The worker behind runThreadJob: the output scan or the lock-holder walk, off the event loop.
const job = workerData as ScanJob | LockHolderWalk;
parentPort!.postMessage('output' in job ? scanOutput(job.output, job.sources) : await walkLockHolders(job));
