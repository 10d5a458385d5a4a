import { describe, expect, it } from 'vitest';
import type { ProcStat } from '../../src/proc/parse-stat.js';
import { parseCgroup2Mount, parseOwnCgroup } from '../../src/runner/cgroup.js';
import { TreeTracker } from '../../src/runner/tree-tracker.js';
import { ProcTree, type ProcTable } from '../../src/proc/proc-table.js';
import { protectedPids } from '../../src/proc/protected-pids.js';

const protectedIds = (t: ProcTable, selfPid: number) => protectedPids(t, { selfPid });

const proc = (pid: number, ppid: number, pgrp = pid, session = pgrp, state = 'S', startTicks = pid * 10): ProcStat => ({
  pid,
  comm: 'x',
  state,
  ppid,
  pgrp,
  session,
  utimeTicks: 0,
  stimeTicks: 0,
  startTicks,
});
const table = (...procs: ProcStat[]): ProcTable => new Map(procs.map((p) => [p.pid, p]));

describe('descendants by parent links', () => {
  it('walks a deep chain and siblings, not the root itself or strangers', () => {
    const t = table(proc(1, 0), proc(100, 1), proc(101, 100, 100), proc(102, 101, 100), proc(103, 102, 100), proc(200, 1));
    expect(
      new ProcTree(t)
        .descendants(100)
        .map((p) => p.pid)
        .sort(),
    ).toEqual([101, 102, 103]);
  });
});

describe('what the watchdog must never signal', () => {
  it('protects init, itself, its ancestors, and its own group and session', () => {
    const t = table(proc(1, 0), proc(50, 1, 50, 50), proc(60, 50, 60, 50), proc(70, 60, 60, 50));
    const guard = protectedIds(t, 70);
    expect([...guard.reasons.keys()].sort((a, b) => a - b)).toEqual([0, 1, 50, 60, 70]);
    expect(guard.groups.has(60) && guard.groups.has(50)).toBe(true);
  });

  it("a tree member in the watchdog's own group is tracked, but the group is never killpg'd", () => {
    const t = table(proc(1, 0), proc(60, 1, 60, 60), proc(70, 60, 60, 60), proc(80, 70, 60, 60));
    const tracker = new TreeTracker(80, protectedIds(t, 70));
    tracker.seedSession();
    tracker.observe(t);
    expect(tracker.alive(t).map((p) => p.pid)).toEqual([80]);
    expect([...tracker.groups]).toEqual([80]);
  });
});

describe('the tracker remembers escapees by (pid, starttime)', () => {
  const guard = protectedIds(table(proc(1, 0), proc(10, 1, 10, 10)), 10);

  it('a member re-parented to init after a double fork is still killed if it was seen once', () => {
    const tracker = new TreeTracker(100, guard);
    tracker.observe(table(proc(100, 10), proc(101, 100, 101, 101)));
    const later = table(proc(101, 1, 101, 101));
    expect(tracker.alive(later).map((p) => p.pid)).toEqual([101]);
  });

  it("a stranger that reuses a dead member's pid is not a member", () => {
    const tracker = new TreeTracker(100, guard);
    tracker.observe(table(proc(100, 10), proc(101, 100)));
    const reused = table(proc(101, 1, 101, 101, 'S', 999_999));
    expect(tracker.alive(reused)).toEqual([]);
  });

  it('an unseen process in a session the tree created is found through that session', () => {
    const tracker = new TreeTracker(100, guard);
    tracker.seedSession();
    tracker.observe(table(proc(100, 10, 100, 100), proc(300, 1, 300, 100)));
    expect(tracker.alive(table(proc(300, 1, 300, 100))).map((p) => p.pid)).toEqual([300]);
    expect(tracker.groups.has(300)).toBe(true);
  });

  it('zombies count as dead (kill(pid, 0) would still answer for them)', () => {
    const tracker = new TreeTracker(100, guard);
    tracker.observe(table(proc(100, 10), proc(101, 100)));
    expect(tracker.alive(table(proc(100, 10, 100, 100, 'Z'), proc(101, 100, 101, 101, 'Z')))).toEqual([]);
  });

  it('with a subreaper helper as root, the helper and its group are left for last', () => {
    const tracker = new TreeTracker(100, guard, true);
    tracker.observe(table(proc(100, 10, 100, 100), proc(101, 100, 100, 100), proc(102, 100, 102, 102)));
    expect(
      tracker
        .alive(table(proc(100, 10, 100, 100), proc(101, 100, 100, 100), proc(102, 100, 102, 102)))
        .map((p) => p.pid)
        .sort(),
    ).toEqual([101, 102]);
    expect([...tracker.groups]).toEqual([102]);
  });

  it('never tracks pid 1 or the watchdog itself, whatever the table says', () => {
    const tracker = new TreeTracker(100, guard);
    tracker.observe(table(proc(100, 10), proc(1, 100), proc(10, 100)), [1, 10]);
    expect(tracker.alive(table(proc(100, 10), proc(1, 100), proc(10, 100))).map((p) => p.pid)).toEqual([100]);
  });
});

describe('finding the cgroup2 mount and our cgroup', () => {
  it('hybrid host: cgroup2 at /sys/fs/cgroup/unified', () => {
    const mountinfo = [
      '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
      '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
    ].join('\n');
    expect(parseCgroup2Mount(mountinfo)).toBe('/sys/fs/cgroup/unified');
  });

  it("a container's read-only cgroup2 does not count", () => {
    expect(parseCgroup2Mount('30 29 0:27 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw\n')).toBeNull();
  });

  it('optional fields and escaped spaces in the mount point are handled', () => {
    expect(parseCgroup2Mount('30 29 0:27 / /mnt/my\\040cg rw,nosuid shared:9 master:2 - cgroup2 cgroup2 rw,nsdelegate\n')).toBe(
      '/mnt/my cg',
    );
  });

  it('v1-only host: none', () => {
    expect(parseCgroup2Mount('32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n')).toBeNull();
  });

  it('our own cgroup is the 0:: line', () => {
    expect(parseOwnCgroup('4:memory:/x\n0::/system.slice/watchdog.service\n')).toBe('/system.slice/watchdog.service');
    expect(parseOwnCgroup('0::/\n')).toBe('/');
    expect(parseOwnCgroup('4:memory:/x\n')).toBeNull();
  });
});
