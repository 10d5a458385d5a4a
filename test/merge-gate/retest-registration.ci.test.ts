import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { MergeGate } from '../../src/merge-gate/gate.js';
import { ProcTree, readProcTable } from '../../src/proc/proc-table.js';
import { RetestRegistry, type RetestProcess } from '../../src/watchdog/retest-registry.js';
import { gateOptions, retestRequest } from '../support/merge-gate.js';
import { waitFor } from '../support/wait-for.js';

const log = createLogger({ level: 'silent' });

/** The real registry, remembering every registration it ever saw. */
class RecordingRegistry extends RetestRegistry {
  readonly seen: RetestProcess[] = [];

  override register(pid: number, startTicks: number, id: string, deadlineMs: number): () => void {
    this.seen.push({ pid, startTicks, id, deadlineMs });
    return super.register(pid, startTicks, id, deadlineMs);
  }
}

function gateWith(timeoutS = 900) {
  const retests = new RecordingRegistry();
  const gate = new MergeGate(gateOptions({ mergeRetestTimeoutS: timeoutS, killGraceS: 0.2, mergeInfraRequeue: false }), {
    clock: Date.now,
    log,
    retests,
  });
  return { gate, retests };
}

const cmdlineOf = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch {
    return '';
  }
};

/** The sleep the re-test runs (its shell's argv carries `marker`), once it is running. */
async function sleeperOf(marker: string): Promise<number> {
  let pid = 0;
  await waitFor(`the sleep of ${marker}`, () => {
    for (const s of readProcTable().values()) if (s.comm === 'sleep' && cmdlineOf(s.ppid).includes(marker)) pid = s.pid;
    return pid !== 0;
  });
  return pid;
}

const sleepCommand = (marker: string, seconds: number): string[] => ['sh', '-c', `sleep ${seconds}; true ${marker}`];

describe("the gate registers each running re-test's root process, and unregisters it however the run ends", () => {
  it('while it runs: its root (pid, starttime) is an ancestor of the command, with the deadline of its own timeout', async () => {
    const { gate, retests } = gateWith();
    const before = Date.now();
    const run = gate.enqueue(retestRequest('reg-pass', 'main', { command: sleepCommand('reg-pass', 2) }));
    const sleeper = await sleeperOf('reg-pass');
    expect(retests.list()).toHaveLength(1);
    const root = retests.list()[0]!;
    expect(root.id).toBe(run.id);
    expect(root.deadlineMs).toBeGreaterThanOrEqual(before + 900_000);
    expect(root.deadlineMs).toBeLessThanOrEqual(Date.now() + 900_000);
    const lineage = new ProcTree(readProcTable()).ancestors(sleeper);
    expect(lineage.some((a) => a.pid === root.pid && a.startTicks === root.startTicks)).toBe(true);
    await gate.idle();
    expect(gate.get(run.id)?.outcome).toBe('pass');
    expect(retests.list()).toEqual([]);
  });

  it('a timeout', async () => {
    const { gate, retests } = gateWith(1);
    const run = gate.enqueue(retestRequest('reg-timeout', 'main', { command: sleepCommand('reg-timeout', 60) }));
    await gate.idle();
    expect(gate.get(run.id)?.outcome).toBe('timeout');
    expect(retests.seen.map((r) => r.id)).toEqual([run.id]);
    expect(retests.list()).toEqual([]);
  });

  it('a cancel', async () => {
    const { gate, retests } = gateWith();
    const run = gate.enqueue(retestRequest('reg-cancel', 'main', { command: sleepCommand('reg-cancel', 60) }));
    await sleeperOf('reg-cancel');
    expect(retests.list()).toHaveLength(1);
    await gate.cancel(run.id);
    expect(gate.get(run.id)?.outcome).toBe('cancelled');
    expect(retests.list()).toEqual([]);
  });

  it('a shutdown', async () => {
    const { gate, retests } = gateWith();
    const run = gate.enqueue(retestRequest('reg-close', 'main', { command: sleepCommand('reg-close', 60) }));
    await sleeperOf('reg-close');
    expect(retests.list()).toHaveLength(1);
    await gate.close();
    expect(gate.get(run.id)?.decision).toBe('repost');
    expect(retests.list()).toEqual([]);
  });

  it('a command that cannot start (not found as the account: exit 127)', async () => {
    const { gate, retests } = gateWith();
    const run = gate.enqueue(retestRequest('reg-enoent', 'main', { command: ['/nonexistent/pytest'] }));
    await gate.idle();
    expect(gate.get(run.id)?.outcome).toBe('infra');
    expect(retests.list()).toEqual([]);
  });
});
