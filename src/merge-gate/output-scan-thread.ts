import { parentPort, workerData } from 'node:worker_threads';
import { scanOutput, type ScanJob } from './output-scan.js';

const job = workerData as ScanJob;
parentPort!.postMessage(scanOutput(job.output, job.sources));
