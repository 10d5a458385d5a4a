import type { Logger } from 'pino';
import type { RetestRequest, RetestRun, RunAsUser } from './types.js';

/** A queued re-test as the gate holds it. */
export interface QueuedJob {
  run: RetestRun;
  request: RetestRequest;
  runAs: RunAsUser;
  /** When the pressure first held this job back (ms, the gate's clock). */
  heldSince?: number;
}

export interface AdmissionContext {
  now: number;
  /** Re-tests running now, and the repos they belong to. */
  running: number;
  runningRepos: ReadonlySet<string>;
  maxParallel: number;
  /** PSI cpu `some avg10` in percent, or null where there is no reading; sampled at most once per call. */
  sampleCpu: () => number | null;
  maxCpuPressure: number;
  pressureWaitS: number;
  pollMs: number;
  log: Logger;
}

export interface Admission {
  /** In queue order: what may start now. */
  start: QueuedJob[];
  /** ms until the earliest back-off end or the next pressure look (Infinity: nothing to wait for). */
  nextMs: number;
}

/**
 * Which queued jobs may start: FIFO, one per repo, at most `maxParallel` running; a job in its
 * back-off waits until `notBefore`; while the CPU is starved a job waits (`waiting:
 * "cpu_pressure"`, at most `pressureWaitS`) and then starts anyway, marked so.
 */
export function admit(queued: readonly QueuedJob[], ctx: AdmissionContext): Admission {
  const start: QueuedJob[] = [];
  const repos = new Set(ctx.runningRepos);
  let cpu: number | null | undefined;
  let nextMs = Infinity;
  for (const job of queued) {
    if (ctx.running + start.length >= ctx.maxParallel) break;
    if (repos.has(job.run.repo)) continue;
    if (job.run.notBefore !== undefined && ctx.now < job.run.notBefore) {
      nextMs = Math.min(nextMs, job.run.notBefore - ctx.now);
      continue;
    }
    cpu = cpu === undefined ? ctx.sampleCpu() : cpu;
    if (cpu !== null && cpu > ctx.maxCpuPressure) {
      job.heldSince ??= ctx.now;
      const waitEnd = job.heldSince + ctx.pressureWaitS * 1000;
      if (ctx.now < waitEnd) {
        Object.assign(job.run, { waiting: 'cpu_pressure', waitingValue: cpu });
        nextMs = Math.min(nextMs, ctx.pollMs, waitEnd - ctx.now);
        continue;
      }
      job.run.startedUnderPressure = true;
      ctx.log.warn(
        { run_id: job.run.id, cpu_some_avg10: cpu },
        'merge gate: the CPU is still starved; starting the re-test anyway (pressure wait over)',
      );
    }
    repos.add(job.run.repo);
    start.push(job);
  }
  return { start, nextMs };
}
