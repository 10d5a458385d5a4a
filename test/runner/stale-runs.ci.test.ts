import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CgroupManager } from '../../src/runner/cgroup.js';
import { privateCgroupBase, rmdirQuiet } from '../support/cgroup.js';
import { waitFor } from '../support/wait-for.js';

/** Running (a zombie waiting for its reaper counts as gone). */
const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

/** A pid no process has now: the "watchdog that died". */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/**
 * A run cgroup as a dead watchdog left it: `<our cgroup>/orch-watchdog-<dead>/run-1` holding a
 * real tree (a shell that joined it first, a setsid'd child and a plain one).
 */
async function staleRun(base: string): Promise<{ run: string; pids: () => number[] }> {
  const run = join(base, `orch-watchdog-${await deadPid()}`, 'run-1');
  mkdirSync(run, { recursive: true });
  const out = mkdtempSync(join(tmpdir(), 'owd-stale-'));
  const script = `echo $$ > "$0/cgroup.procs" && { setsid sleep 300 & echo $! > ${out}/a; sleep 300 & echo $! > ${out}/b; echo $$ > ${out}/sh; wait; }`;
  const sh = spawn('/bin/sh', ['-c', script, run], { detached: true, stdio: 'ignore' });
  sh.unref();
  const pids = () => ['sh', 'a', 'b'].filter((f) => existsSync(join(out, f))).map((f) => Number(readFileSync(join(out, f), 'utf8')));
  await waitFor('the tree in the stale run cgroup', () => pids().length === 3);
  cleanups.push(() => {
    for (const pid of pids()) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  return { run, pids };
}

async function cgroupBase(): Promise<string> {
  const { base, remove } = await privateCgroupBase();
  cleanups.push(remove);
  return base;
}

const manager = (base: string, selfPid = process.pid) => new CgroupManager('/proc', selfPid, undefined, base);

describe('run cgroups left by a watchdog that died (kill -9)', () => {
  it('every member is killed with one cgroup.kill (setsid does not help) and the leftovers are removed', async () => {
    const base = await cgroupBase();
    const { run, pids } = await staleRun(base);
    const members = pids();
    const stale = await manager(base).killStaleRuns();
    expect(stale).toEqual([{ path: run, pids: expect.arrayContaining(members) as number[], killed: true }]);
    await waitFor('every member gone', () => members.every((pid) => !alive(pid)));
    expect(existsSync(run)).toBe(false);
    expect(existsSync(dirname(run))).toBe(false);
  });

  it('nothing is signalled when a member is this watchdog (or its ancestor)', async () => {
    const base = await cgroupBase();
    const { run, pids } = await staleRun(base);
    const members = pids();
    // a manager that believes the shell is its own process: the rule refuses to kill it
    const believer = manager(base, members[0]);
    const stale = await believer.killStaleRuns();
    await believer.dispose();
    expect(stale).toEqual([{ path: run, pids: expect.arrayContaining(members) as number[], killed: false }]);
    expect(members.every(alive)).toBe(true);
    for (const pid of members) process.kill(pid, 'SIGKILL');
    await waitFor('the test ended them itself', () => members.every((pid) => !alive(pid)));
    await manager(base).killStaleRuns(); // removes the now empty leftovers
    expect(existsSync(dirname(run))).toBe(false);
  });

  it("a live watchdog's run cgroup is never touched", async () => {
    const base = await cgroupBase();
    const live = spawn('sleep', ['300'], { stdio: 'ignore' });
    cleanups.push(() => live.kill('SIGKILL'));
    const run = join(base, `orch-watchdog-${live.pid}`, 'run-1');
    mkdirSync(run, { recursive: true });
    cleanups.push(() => {
      for (const p of [run, dirname(run)]) if (existsSync(p)) rmdirQuiet(p);
    });
    expect(await manager(base).killStaleRuns()).toEqual([]);
    expect(existsSync(run)).toBe(true);
  });
});
