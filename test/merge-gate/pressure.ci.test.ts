import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, rmdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { MergeGate } from '../../src/merge-gate/gate.js';
import { KillEnvironment } from '../../src/runner/launch.js';
import {
  hostPressureProbe,
  loadStallPercent,
  parsePsiSome,
  PressureRecorder,
  PSI_READ_DEADLINE_MS,
} from '../../src/merge-gate/pressure.js';
import { gateOptions as options, manualPressure, retestRequest as request } from '../support/merge-gate.js';
import { waitFor } from '../support/wait-for.js';

const log = createLogger({ level: 'silent' });

describe('pressure readings', () => {
  it('parses the PSI some line; the load average per core stands in where PSI is missing', () => {
    expect(
      parsePsiSome('some avg10=71.25 avg60=40.00 avg300=10.00 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n'),
    ).toEqual({ avg10: 71.25, totalUs: 123456 });
    expect(parsePsiSome('garbage')).toBeNull();
    expect([loadStallPercent(1.5, 2), loadStallPercent(4, 2), loadStallPercent(8, 2)]).toEqual([0, 50, 75]);
  });

  it('a run records the stalled share of its wall time from the PSI totals, and the avg10 peak', async () => {
    const probe = manualPressure(20, 0.5);
    const recorder = new PressureRecorder(probe);
    probe.cpu = 80;
    recorder.observe();
    probe.cpu = 30;
    expect(await recorder.finish()).toEqual({ cpuStalledShare: 0.5, memoryStalledShare: 0, cpuSomeAvg10Peak: 80 });
  });
});

/** Answers one reader blocked on `fifo` with `text`; false when nobody was reading. */
function answerFifo(fifo: string, text: string): boolean {
  let fd: number;
  try {
    fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  writeSync(fd, text);
  closeSync(fd);
  return true;
}

// Incident guarded: /proc/pressure/cpu was read with readFileSync on the main thread; a read that
// blocked froze the whole server (no /healthz, no tick, no SIGTERM).
describe('a PSI read that blocks never blocks the caller', () => {
  it('sample() answers at once from the load average while the read is overdue, and from PSI once it answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'owd-psi-'));
    const cpu = join(dir, 'cpu');
    execFileSync('mkfifo', [cpu]);
    writeFileSync(join(dir, 'memory'), 'some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n');
    const probe = hostPressureProbe({ cpu, memory: join(dir, 'memory') });
    try {
      const started = Date.now();
      expect(probe.sample().source).toBe('loadavg');
      expect(Date.now() - started).toBeLessThan(PSI_READ_DEADLINE_MS);
      await waitFor('the read to count as overdue', () => probe.isStuck === true, { timeoutMs: 30_000 });
      expect(probe.sample()).toMatchObject({ source: 'loadavg', cpuSomeTotalUs: null });

      expect(answerFifo(cpu, 'some avg10=42.50 avg60=1.00 avg300=1.00 total=777\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n')).toBe(
        true,
      );
      await waitFor('the PSI reading', () => probe.sample().source === 'psi', { timeoutMs: 30_000, intervalMs: 5 });
      expect(probe.sample()).toMatchObject({ cpuSomeAvg10: 42.5, cpuSomeTotalUs: 777, memorySomeTotalUs: 5 });
    } finally {
      probe.close?.();
      // end any read still waiting on the FIFO, so no pool thread stays blocked after the test
      await waitFor('no reader left on the FIFO', () => !answerFifo(cpu, '') && !probe.isStuck, {
        timeoutMs: 30_000,
        intervalMs: 100,
      }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Busy loops, several per core, in a cgroup of their own: the probe reads that cgroup's
 * cpu.pressure, so the hog alone drives it, whatever else loads this shared 2-core host.
 */
async function startHog(perCore: number): Promise<Hog> {
  const support = await new KillEnvironment().cgroups.detect();
  if (!support.ok) throw new Error(`no writable cgroup v2 here: ${support.reason}`);
  // A sibling of the runner's own parent cgroup: its runs never clean it up (or kill it).
  const cgroup = join(dirname(support.parent), `owd-hog-${process.pid}-${Date.now()}`);
  mkdirSync(cgroup);
  const procs = Array.from({ length: perCore * availableParallelism() }, () =>
    spawn('/bin/sh', ['-c', 'while :; do :; done'], { detached: true, stdio: 'ignore' }),
  );
  for (const p of procs) writeFileSync(join(cgroup, 'cgroup.procs'), String(p.pid));
  return { procs, cgroup };
}
interface Hog {
  procs: ChildProcess[];
  cgroup: string;
}
async function removeHogCgroup(hog: Hog): Promise<void> {
  await waitFor('the hog cgroup is empty', () => readFileSync(join(hog.cgroup, 'cgroup.procs'), 'utf8').trim() === '');
  rmdirSync(hog.cgroup);
}
function stopHog(hog: Hog): void {
  for (const p of hog.procs) {
    try {
      process.kill(-p.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

describe('a real CPU hog holds a queued re-test until it stops', () => {
  it(
    'waiting cpu_pressure with the PSI value while the hog runs; starts after it is killed; a run under the hog records it',
    { timeout: 240_000 },
    async () => {
      const host = hostPressureProbe();
      await waitFor('a first PSI reading of the host', () => host.sample().source === 'psi');
      host.close?.();
      // Six spinners on two cores hold their cgroup's `some avg10` near 90, not 100, and it dips: 85 was inside the noise.
      const threshold = 60;
      const hog = await startHog(3);
      const probe = hostPressureProbe({ cpu: join(hog.cgroup, 'cpu.pressure'), memory: join(hog.cgroup, 'memory.pressure') });
      try {
        // A PSI reading, not the load average that answers until the first read is back: on a host at load 8 that
        // stand-in is above 70 at once, while the hog's own avg10 is still 0 and lets the held re-test start.
        await waitFor(
          'PSI cpu some avg10 above the threshold',
          () => {
            const s = probe.sample();
            return s.source === 'psi' && (s.cpuSomeAvg10 ?? 0) > threshold + 10;
          },
          { timeoutMs: 90_000, intervalMs: 500 },
        );
        const seen: string[] = [];
        const heldProbe = {
          sample: () => {
            const s = probe.sample();
            seen.push(`${Date.now()} ${s.source} ${String(s.cpuSomeAvg10)} stuck=${String(probe.isStuck)}`);
            return s;
          },
        };
        const held = new MergeGate(options({ mergeMaxCpuPressure: threshold, mergePressureWaitS: 600, pressurePollMs: 500 }), {
          clock: Date.now,
          log,
          pressure: heldProbe,
        });
        const evidence = new MergeGate(options({ mergeMaxCpuPressure: 100, pressurePollMs: 250 }), {
          clock: Date.now,
          log,
          pressure: probe,
        });
        const waiting = held.enqueue(request('api', 'main', { command: ['true'] }));
        const underHog = evidence.enqueue(request('web', 'main', { command: ['sleep', '2'] }));
        await evidence.idle();
        expect(held.get(waiting.id), `what the held gate read: ${seen.slice(-12).join('; ')}`).toMatchObject({
          status: 'queued',
          waiting: 'cpu_pressure',
        });
        expect(held.get(waiting.id)!.waitingValue).toBeGreaterThan(threshold);
        const recorded = evidence.get(underHog.id)!.pressure!;
        expect(recorded.cpuStalledShare).toBeGreaterThan(0.5);
        expect(recorded.cpuSomeAvg10Peak).toBeGreaterThan(threshold);

        stopHog(hog);
        const stoppedAt = Date.now();
        await waitFor('the held re-test ran', () => held.get(waiting.id)!.status === 'done', { timeoutMs: 120_000, intervalMs: 200 });
        const run = held.get(waiting.id)!;
        expect(run.startedAt!, `what the held gate read: ${seen.slice(-12).join('; ')}`).toBeGreaterThanOrEqual(stoppedAt);
        expect(run).toMatchObject({ outcome: 'pass', decision: 'merge' });
        expect(run.startedUnderPressure).toBeUndefined();
      } finally {
        probe.close?.();
        stopHog(hog);
        await removeHogCgroup(hog);
      }
    },
  );
});
