import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { PressureEvidence } from './types.js';

/** One look at the host: PSI (Linux >= 4.20) where present, else the load average per core. */
export interface PressureSample {
  atMs: number;
  /** Percent of the last 10 s in which some runnable task waited for a CPU (PSI cpu `some avg10`). */
  cpuSomeAvg10: number | null;
  /** PSI `some total` counters, microseconds stalled since boot; null without PSI. */
  cpuSomeTotalUs: number | null;
  memorySomeTotalUs: number | null;
  source: 'psi' | 'loadavg';
}

export interface PressureProbe {
  sample(): PressureSample;
}

interface PsiLine {
  avg10: number;
  totalUs: number;
}

/** Parses the `some` line of a /proc/pressure/* file. */
export function parsePsiSome(text: string): PsiLine | null {
  const m = /^some avg10=(\d+(?:\.\d+)?) avg60=\S+ avg300=\S+ total=(\d+)$/m.exec(text);
  return m ? { avg10: Number(m[1]), totalUs: Number(m[2]) } : null;
}

/**
 * Without PSI: the share of runnable tasks that wait, estimated from the 1-min load average
 * (load 2× the cores ≈ half of them waiting = 50 %); 0 while the load fits the cores.
 */
export function loadStallPercent(load1: number, cores: number): number {
  if (cores <= 0 || load1 <= cores) return 0;
  return Math.round(((load1 - cores) / load1) * 10_000) / 100;
}

function readPsi(path: string): PsiLine | null {
  try {
    return parsePsiSome(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

export interface PsiFiles {
  /** default /proc/pressure/cpu; a cgroup's cpu.pressure works too (tests point it at one) */
  cpu?: string;
  memory?: string;
}

/**
 * Reads the PSI files: two ~150-byte reads, cheap enough for the event loop. `atMs` is the
 * monotonic clock: the PSI totals are real microseconds, so the wall time must be real too.
 */
export function hostPressureProbe(files: PsiFiles = {}): PressureProbe {
  const cpuFile = files.cpu ?? '/proc/pressure/cpu';
  const memoryFile = files.memory ?? '/proc/pressure/memory';
  return {
    sample(): PressureSample {
      const cpu = readPsi(cpuFile);
      const memory = readPsi(memoryFile);
      if (cpu) {
        return {
          atMs: performance.now(),
          cpuSomeAvg10: cpu.avg10,
          cpuSomeTotalUs: cpu.totalUs,
          memorySomeTotalUs: memory?.totalUs ?? null,
          source: 'psi',
        };
      }
      const cores = availableParallelism();
      return {
        atMs: performance.now(),
        cpuSomeAvg10: loadStallPercent(loadavg()[0] ?? 0, cores),
        cpuSomeTotalUs: null,
        memorySomeTotalUs: null,
        source: 'loadavg',
      };
    },
  };
}

const share = (from: number | null, to: number | null, wallUs: number): number | null =>
  from === null || to === null || wallUs <= 0 ? null : Math.round(Math.min(1, Math.max(0, (to - from) / wallUs)) * 1000) / 1000;

/** Follows one run: the stalled share of its wall time from the PSI totals, and the avg10 peak. */
export class PressureRecorder {
  private readonly first: PressureSample;
  private last: PressureSample;
  private peak: number | null;

  constructor(private readonly probe: PressureProbe) {
    this.first = probe.sample();
    this.last = this.first;
    this.peak = this.first.cpuSomeAvg10;
  }

  observe(): PressureSample {
    this.last = this.probe.sample();
    const v = this.last.cpuSomeAvg10;
    if (v !== null && (this.peak === null || v > this.peak)) this.peak = v;
    return this.last;
  }

  finish(): PressureEvidence {
    this.observe();
    const wallUs = (this.last.atMs - this.first.atMs) * 1000;
    return {
      cpuStalledShare: share(this.first.cpuSomeTotalUs, this.last.cpuSomeTotalUs, wallUs),
      memoryStalledShare: share(this.first.memorySomeTotalUs, this.last.memorySomeTotalUs, wallUs),
      cpuSomeAvg10Peak: this.peak,
    };
  }
}
