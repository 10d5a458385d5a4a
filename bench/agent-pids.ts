/**
 * What WATCHDOG_ORCH_CONTAINER adds to the /proc scan (not part of the test suite): the scan of
 * this host's /proc with a container to place (each process's cgroup read once, then cached with
 * the process; a member's NSpid once) against the same scan without one, the reference, in the
 * same run, interleaved, over this host's processes plus BENCH_PROCS sleeping ones. Env:
 * BENCH_ROUNDS (15), BENCH_PROCS (3000).
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { ScanWorker } from '../src/sources/proc/scan-worker.js';
import type { ScannerOptions } from '../src/sources/proc/scanner.js';
import type { PidViewRequest } from '../src/watchdog/agent-directory.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const PROCS = Number(process.env.BENCH_PROCS ?? 3000);
const OPTS: ScannerOptions = {
  root: '/proc',
  patterns: ['pytest'],
  exclude: [],
  mode: 'program',
  recheckMs: 60_000,
  cmdlineMaxBytes: 4096,
};
// an id no cgroup names: every process is checked, none is a member (the cost without the members' few status reads)
const REQUEST: PidViewRequest = { containerId: 'e'.repeat(64), probePids: [] };

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(worker: ScanWorker, request?: PidViewRequest): Promise<number> {
  const t0 = performance.now();
  await worker.scan(undefined, request);
  return performance.now() - t0;
}

const pidCount = (): number => readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;

/** PROCS sleeping processes in one session; the returned function kills the group. */
async function startSleepers(): Promise<() => void> {
  const before = pidCount();
  const group = spawn('bash', ['-c', `for ((i=0;i<${PROCS};i++)); do sleep 3600 & done; wait`], { detached: true, stdio: 'ignore' });
  group.unref();
  const stop = (): void => {
    try {
      process.kill(-group.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.on('exit', stop);
  const deadline = Date.now() + 120_000;
  while (pidCount() < before + PROCS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  return stop;
}

async function main(): Promise<void> {
  const stopSleepers = await startSleepers();
  const processes = pidCount();
  // first scans: fresh scanners, the order alternating (the one after reads a warmer kernel cache)
  const cold = { plain: [] as number[], placing: [] as number[] };
  for (let i = 0; i < 5; i += 1) {
    const plain = new ScanWorker(OPTS);
    const placing = new ScanWorker(OPTS);
    if (i % 2 === 0) {
      cold.plain.push(await timed(plain));
      cold.placing.push(await timed(placing, REQUEST));
    } else {
      cold.placing.push(await timed(placing, REQUEST));
      cold.plain.push(await timed(plain));
    }
    await plain.close();
    await placing.close();
  }
  const plain = new ScanWorker(OPTS);
  const placing = new ScanWorker(OPTS);
  try {
    await timed(plain);
    await timed(placing, REQUEST);
    const warm = { plain: [] as number[], placing: [] as number[] };
    for (let i = 0; i < ROUNDS; i += 1) {
      warm.plain.push(await timed(plain));
      warm.placing.push(await timed(placing, REQUEST));
    }
    const [cp, cc, wp, wc] = [median(cold.plain), median(cold.placing), median(warm.plain), median(warm.placing)];
    console.log(`/proc scan of ${processes} processes (medians; 5 first scans, ${ROUNDS} later ones):`);
    console.log(`  first scan: ${cp.toFixed(1)} ms without a container to place, ${cc.toFixed(1)} ms with = ${(cc / cp).toFixed(2)}x`);
    console.log(`  later scans: ${wp.toFixed(1)} ms without, ${wc.toFixed(1)} ms with = ${(wc / wp).toFixed(2)}x`);
  } finally {
    await plain.close();
    await placing.close();
    stopSleepers();
  }
}

await main();
