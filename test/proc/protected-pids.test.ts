import { describe, expect, it } from 'vitest';
import type { ProcStat } from '../../src/proc/parse-stat.js';
import { ProcTree, readProcTable } from '../../src/proc/proc-table.js';
import { isSignallable, isSignallableGroup, protectedPids, whyProtected } from '../../src/proc/protected-pids.js';

const p = (pid: number, ppid: number, pgrp = pid, session = pgrp): ProcStat => ({
  pid,
  ppid,
  pgrp,
  session,
  comm: 'x',
  state: 'S',
  utimeTicks: 0,
  stimeTicks: 0,
  startTicks: pid * 10,
});

// 1 init -> 10 sshd -> 20 watchdog -> 21 its child; 1 -> 30 orchestrator -> 40 agent -> 50 pytest (same group as the agent)
const table = new Map(
  [p(1, 0), p(10, 1), p(20, 10), p(21, 20, 20), p(30, 1), p(40, 30), p(50, 40, 40), p(60, 50, 60)].map((s) => [s.pid, s]),
);

describe('the one protected-pid rule', () => {
  const guard = protectedPids(table, { selfPid: 20, agentPids: [40] });

  it('protects pid <= 1, the watchdog, its ancestors, agents and their ancestors, each with its reason', () => {
    expect(whyProtected(0, guard)).toBe('init');
    expect(whyProtected(1, guard)).toBe('init');
    expect(whyProtected(-5, guard)).toBe('init');
    expect(whyProtected(20, guard)).toBe('watchdog');
    expect(whyProtected(10, guard)).toBe('watchdog_ancestor');
    expect(whyProtected(40, guard)).toBe('agent');
    expect(whyProtected(30, guard)).toBe('agent_ancestor');
  });

  it("leaves the agent's test run signallable, but never the group it shares with the agent", () => {
    expect(isSignallable(50, guard)).toBe(true);
    expect(isSignallable(60, guard)).toBe(true);
    expect(isSignallable(21, guard)).toBe(true);
    expect(isSignallableGroup(40, guard)).toBe(false);
    expect(isSignallableGroup(20, guard)).toBe(false);
    expect(isSignallableGroup(60, guard)).toBe(true);
  });

  it('on the real /proc: this process and its parent are protected', () => {
    const real = protectedPids(readProcTable('/proc'), { selfPid: process.pid });
    expect(whyProtected(process.pid, real)).toBe('watchdog');
    expect(whyProtected(process.ppid, real)).toBe('watchdog_ancestor');
  });
});

describe('ProcTree', () => {
  const tree = new ProcTree(table);
  it('walks children, descendants and ancestors', () => {
    expect(tree.children(40).map((s) => s.pid)).toEqual([50]);
    expect(
      tree
        .descendants(30)
        .map((s) => s.pid)
        .sort(),
    ).toEqual([40, 50, 60]);
    expect(tree.ancestors(50).map((s) => s.pid)).toEqual([40, 30, 1]);
  });
});
