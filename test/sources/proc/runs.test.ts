import { describe, expect, it } from 'vitest';
import type { LinkedProcess } from '../../../src/proc/proc-table.js';
import { MAX_REMEMBERED_PER_RUN, RunTracker, type Owners } from '../../../src/sources/proc/runs.js';
import type { MatchedProcess } from '../../../src/sources/proc/scanner.js';

const link = (pid: number, ppid: number): LinkedProcess => ({ pid, ppid, startTicks: pid * 10 });
/** A scan's lineage: (pid, ppid, starttime) flat. */
const tree = (...ps: LinkedProcess[]) => ps.flatMap((p) => [p.pid, p.ppid, p.startTicks]);
const raw = (pid: number, ppid: number): MatchedProcess => ({
  pid,
  ppid,
  pgrp: pid,
  session: pid,
  comm: 'pytest',
  state: 'S',
  utimeTicks: 0,
  stimeTicks: 0,
  startTicks: pid * 10,
  argv: ['pytest'],
  match: 'program',
  locks: [],
  ports: [],
  parentComm: null,
});
const noOwner: Owners = { agents: new Map(), retests: new Map() };

describe('runs: one run, one alert', () => {
  it('a matching process below a matching one is a member of that run; the top is its run_pid', () => {
    const runs = new RunTracker();
    // bash 10 -> pytest 20 -> xdist workers 30, 31 (they match too)
    const t = tree(link(10, 1), link(20, 10), link(30, 20), link(31, 20));
    const step = runs.step(t, [raw(20, 10), raw(30, 20), raw(31, 20)], 0, noOwner);
    expect(step.members.map((m) => [m.raw.pid, m.run.top.pid, m.isTop])).toEqual([
      [20, 20, true],
      [30, 20, false],
      [31, 20, false],
    ]);
    expect(step.finished).toEqual([]);
  });
});

describe('leftovers', () => {
  it('remembers descendants while the run lives and reports the survivors once its top is gone, with the time since', () => {
    const runs = new RunTracker();
    // pytest 20 -> fixture server 21, and 22 which double-forks 23
    runs.step(tree(link(10, 1), link(20, 10), link(21, 20), link(22, 20), link(23, 22)), [raw(20, 10)], 1_000, noOwner);
    // pytest killed: 21 and 23 re-parented to init, 22 exited
    const after = tree(link(10, 1), link(21, 1), link(23, 1));
    const first = runs.step(after, [], 5_000, noOwner);
    expect(first.finished).toHaveLength(1);
    expect(first.finished[0]!.run.top.pid).toBe(20);
    expect(first.finished[0]!.leftovers.map((l) => l.pid).sort()).toEqual([21, 23]);
    expect(first.finished[0]!.goneForS).toBe(0);
    const later = runs.step(after, [], 125_000, noOwner);
    expect(later.finished[0]!.goneForS).toBe(120);
    // the leftovers exit: the run is forgotten
    expect(runs.step(tree(link(10, 1)), [], 130_000, noOwner).finished).toEqual([]);
  });

  // A run that forked thousands of short-lived helpers filled its memory with dead ones and stopped
  // remembering: the server it started last survived it unseen.
  it('a run that forked more than it may remember, long dead, still remembers the descendant that survives it', () => {
    const runs = new RunTracker();
    const helpers = Array.from({ length: MAX_REMEMBERED_PER_RUN }, (_, i) => link(1000 + i, 20));
    runs.step(tree(link(10, 1), link(20, 10), ...helpers), [raw(20, 10)], 0, noOwner);
    // the helpers are gone; the run starts its server
    runs.step(tree(link(10, 1), link(20, 10), link(9000, 20)), [raw(20, 10)], 1_000, noOwner);
    const step = runs.step(tree(link(10, 1), link(9000, 1)), [], 2_000, noOwner);
    expect(step.finished.map((f) => f.leftovers.map((l) => l.pid))).toEqual([[9000]]);
  });

  it('a remembered member that matches on its own is still a leftover of its finished run, not a new run', () => {
    const runs = new RunTracker();
    runs.step(tree(link(10, 1), link(20, 10), link(30, 20)), [raw(20, 10), raw(30, 20)], 0, noOwner);
    const step = runs.step(tree(link(10, 1), link(30, 1)), [raw(30, 1)], 1_000, noOwner);
    expect(step.members).toEqual([]);
    expect(step.finished[0]!.leftovers.map((l) => l.pid)).toEqual([30]);
  });

  it('a pid reused by a new process (other starttime) is not a leftover', () => {
    const runs = new RunTracker();
    runs.step(tree(link(10, 1), link(20, 10), link(21, 20)), [raw(20, 10)], 0, noOwner);
    const step = runs.step(tree(link(10, 1), { pid: 21, ppid: 1, startTicks: 999 }), [], 1_000, noOwner);
    expect(step.finished).toEqual([]);
  });

  it('keeps the owner found while the run lived', () => {
    const runs = new RunTracker();
    const owner = { kind: 'agent' as const, runId: '678', task: 'ORCH-111', stage: 'tester' };
    // the agent: bash 10, which started the pytest
    const owners: Owners = { agents: new Map([[10, { runId: '678', pid: 10, task: 'ORCH-111', stage: 'tester' }]]), retests: new Map() };
    runs.step(tree(link(10, 1), link(20, 10), link(21, 20)), [raw(20, 10)], 0, owners);
    expect(runs.step(tree(link(21, 1)), [], 1_000, noOwner).finished[0]!.run.owner).toEqual(owner);
  });
});
