import { Worker } from 'node:worker_threads';
import { readBootTimeS, readClockTicks } from '../proc/read-proc.js';
import { redactCommandLine } from '../redact.js';
import type { KnownAs, LockHolder } from './types.js';

export interface LockHolderQuery {
  /** Lock (or database) files the output named. */
  paths: string[];
  /** The re-test's checkout: a process working inside it is a suspect too. */
  cwd: string;
}

/** A process found by the /proc walk, before redaction. */
export interface RawHolder {
  pid: number;
  argv: string[];
  ageS: number;
  via: LockHolder['via'];
}

/** The seam to src/proc's /proc/locks + fd reader; the default below walks /proc in a worker thread. */
export type LockHolderFinder = (query: LockHolderQuery) => Promise<RawHolder[]>;

const CMDLINE_MAX_CHARS = 512;
const HOLDERS_MAX = 20;
const FIND_TIMEOUT_MS = 15_000;

// A worker: walking every /proc/<pid>/fd of 5,000 processes took 270 ms of event loop in the first design.
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { root, paths, cwd, selfPid, btimeS, clkTck, nowMs, max } = workerData;
const wanted = new Set(paths);
const inodes = new Set();
for (const p of paths) { try { inodes.add(fs.statSync(p).ino); } catch {} }
const found = new Map();
const add = (pid, via) => { if (pid !== selfPid && pid > 1 && !found.has(pid)) found.set(pid, via); };
try {
  for (const line of fs.readFileSync(root + '/locks', 'utf8').split('\n')) {
    const m = /^\d+: +(\S+) +\S+ +\S+ +(\d+) +[0-9a-f]+:[0-9a-f]+:(\d+) /.exec(line);
    if (m && m[1] !== '->' && inodes.has(Number(m[3]))) add(Number(m[2]), 'lock');
  }
} catch {}
let pids = [];
try { pids = fs.readdirSync(root).filter((n) => /^\d+$/.test(n)).map(Number); } catch {}
for (const pid of pids) {
  if (found.size >= max) break;
  try {
    const dir = root + '/' + pid;
    const wd = fs.readlinkSync(dir + '/cwd');
    if (cwd && (wd === cwd || wd.startsWith(cwd.replace(/\/+$/, '') + '/'))) add(pid, 'cwd');
    if (wanted.size > 0) {
      for (const fd of fs.readdirSync(dir + '/fd')) {
        let target = '';
        try { target = fs.readlinkSync(dir + '/fd/' + fd); } catch { continue; }
        if (wanted.has(target)) { add(pid, 'open'); break; }
      }
    }
  } catch {}
}
const out = [];
for (const [pid, via] of found) {
  try {
    const stat = fs.readFileSync(root + '/' + pid + '/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startS = btimeS + Number(fields[19]) / clkTck;
    const argv = fs.readFileSync(root + '/' + pid + '/cmdline', 'latin1').split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
    out.push({ pid, argv, ageS: Math.max(0, Math.round(nowMs / 1000 - startS)), via });
  } catch {}
}
parentPort.postMessage(out);
`;

/** Who holds `paths` (by /proc/locks and open fds) or works in `cwd`, read off the event loop. */
export function procLockHolderFinder(procRoot = '/proc'): LockHolderFinder {
  return async (query) => {
    const [btimeS, clkTck] = await Promise.all([readBootTimeS(procRoot), readClockTicks()]);
    const workerData = {
      root: procRoot,
      paths: query.paths,
      cwd: query.cwd,
      selfPid: process.pid,
      btimeS,
      clkTck,
      nowMs: Date.now(),
      max: HOLDERS_MAX,
    };
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData, name: 'merge-gate-lock-holders' });
    try {
      return await new Promise<RawHolder[]>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`lock holder scan took over ${FIND_TIMEOUT_MS} ms`)), FIND_TIMEOUT_MS);
        worker.once('message', (holders: RawHolder[]) => {
          clearTimeout(timer);
          resolve(holders);
        });
        worker.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
    } finally {
      void worker.terminate();
    }
  };
}

/** What leaves the app: redacted, truncated, and tagged with what the proc scan knows. */
export function toLockHolders(raw: readonly RawHolder[], knownAs: (pid: number) => KnownAs | null): LockHolder[] {
  return raw.slice(0, HOLDERS_MAX).map((h) => ({
    pid: h.pid,
    cmdline: redactCommandLine(h.argv, CMDLINE_MAX_CHARS),
    ageS: h.ageS,
    knownAs: knownAs(h.pid),
    via: h.via,
  }));
}
