import { parentPort, workerData } from 'node:worker_threads';
import { walkLockHolders, type LockHolderWalk } from './lock-holders.js';

parentPort!.postMessage(await walkLockHolders(workerData as LockHolderWalk));
