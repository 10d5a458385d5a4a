import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
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

/** `sample()` never waits for a file; `fresh()` is a reading taken after the call; `isStuck`: a PSI read has not come back. */
export interface PressureProbe {
  sample(): PressureSample;
  fresh?(): Promise<PressureSample>;
  readonly isStuck?: boolean;
  close?(): void;
}

/** Parses the `some` line of a /proc/pressure/* file. */
export function parsePsiSome(text: string): { avg10: number; totalUs: number } | null {
  const m = /^some avg10=(\d+(?:\.\d+)?) avg60=\S+ avg300=\S+ total=(\d+)$/m.exec(text);
  return m ? { avg10: Number(m[1]), totalUs: Number(m[2]) } : null;
}

/** Without PSI: the share of runnable tasks that wait, from the 1-min load average (2× the cores ≈ 50 %); 0 while it fits. */
export function loadStallPercent(load1: number, cores: number): number {
  if (cores <= 0 || load1 <= cores) return 0;
  return Math.round(((load1 - cores) / load1) * 10_000) / 100;
}

/** The PSI files under a proc root; a cgroup's cpu.pressure works too (tests point the probe at one). */
export const psiFilesUnder = (procRoot: string) => ({ cpu: `${procRoot}/pressure/cpu`, memory: `${procRoot}/pressure/memory` });

/** A read not back by then counts as "pressure unknown" (docs/merge-gate.md); a loaded pool may delay an honest one a while. */
export const PSI_READ_DEADLINE_MS = 5_000;

async function readPsiFiles(cpuFile: string, memoryFile: string): Promise<PressureSample | null> {
  const cpu = parsePsiSome(await readFile(cpuFile, 'utf8'));
  if (!cpu) return null;
  const memory = await readFile(memoryFile, 'utf8').then(parsePsiSome, () => null);
  return {
    atMs: performance.now(),
    cpuSomeAvg10: cpu.avg10,
    cpuSomeTotalUs: cpu.totalUs,
    memorySomeTotalUs: memory?.totalUs ?? null,
    source: 'psi',
  };
}

/** PSI read each second on the thread pool (a blocking file never holds the loop); the load average answers without PSI or while overdue. `atMs` is monotonic. */
export function hostPressureProbe({ cpu: cpuFile, memory: memoryFile } = psiFilesUnder('/proc'), log?: Logger): PressureProbe {
  let latest: PressureSample | null = null;
  let pending = false;
  let overdue = false;
  let waiters: ((s: PressureSample) => void)[] = [];
  const sample = (): PressureSample =>
    latest !== null && !overdue
      ? latest
      : {
          atMs: performance.now(),
          cpuSomeAvg10: loadStallPercent(loadavg()[0] ?? 0, availableParallelism()),
          cpuSomeTotalUs: null,
          memorySomeTotalUs: null,
          source: 'loadavg',
        };
  const answerWaiters = (): void => {
    const answer = sample();
    for (const resolve of waiters.splice(0)) resolve(answer);
  };
  const refresh = (): void => {
    if (pending) return;
    pending = true;
    const deadline = setTimeout(() => {
      overdue = true;
      log?.warn(
        { file: cpuFile, deadline_ms: PSI_READ_DEADLINE_MS },
        'merge gate: a PSI read did not come back; judging the CPU by the load average until one does',
      );
      answerWaiters();
    }, PSI_READ_DEADLINE_MS);
    deadline.unref();
    void readPsiFiles(cpuFile, memoryFile)
      .catch(() => null)
      .then((reading) => {
        clearTimeout(deadline);
        if (overdue) log?.info({ file: cpuFile }, 'merge gate: PSI reads answer again');
        latest = reading;
        pending = false;
        overdue = false;
        answerWaiters();
      });
  };
  refresh();
  const timer = setInterval(refresh, 1_000);
  timer.unref();
  return {
    sample,
    fresh: () =>
      new Promise<PressureSample>((resolve) => {
        if (overdue) return resolve(sample());
        waiters.push(resolve);
        refresh();
      }),
    get isStuck() {
      return overdue;
    },
    close: () => {
      clearInterval(timer);
      answerWaiters();
      waiters = [];
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

  observe(sample: PressureSample = this.probe.sample()): void {
    this.last = sample;
    const v = sample.cpuSomeAvg10;
    if (v !== null && (this.peak === null || v > this.peak)) this.peak = v;
  }

  /** Ends the record with a reading taken after the run (a short run would otherwise see one reading twice). */
  async finish(): Promise<PressureEvidence> {
    this.observe(this.probe.fresh ? await this.probe.fresh() : this.probe.sample());
    const wallUs = (this.last.atMs - this.first.atMs) * 1000;
    return {
      cpuStalledShare: share(this.first.cpuSomeTotalUs, this.last.cpuSomeTotalUs, wallUs),
      memoryStalledShare: share(this.first.memorySomeTotalUs, this.last.memorySomeTotalUs, wallUs),
      cpuSomeAvg10Peak: this.peak,
    };
  }
}
