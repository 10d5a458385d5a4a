import * as fs from 'node:fs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isKernelThreadStat, parseStatusIds } from '../../../src/proc/parse-stat.js';
import { Scanner } from '../../../src/sources/proc/scanner.js';
import {
  agentPidWarnings,
  AgentDirectory,
  pidViewOf,
  type AgentInfo,
  type OrchLocation,
  type PidProbe,
} from '../../../src/watchdog/agent-directory.js';
import { FakeProc } from '../../support/fake-proc.js';

const ID = 'c0ffee'.padEnd(64, '0');
const running: OrchLocation = { kind: 'running', container: 'orch', id: ID, initPid: 5000 };
const agent = (pid: number | null, runId = '678'): AgentInfo => ({ runId, pid, task: 'ORCH-111', stage: 'tester' });

/** status as the kernel writes it (the lines that matter, in their order). */
const status = (name: string, ppid: number, nsPids: number[]) =>
  `Name:\t${name}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t${nsPids[0]}\nNgid:\t0\nPid:\t${nsPids[0]}\nPPid:\t${ppid}\nTracerPid:\t0\nNStgid:\t${nsPids.join('\t')}\nNSpid:\t${nsPids.join('\t')}\nNSpgid:\t${nsPids.join('\t')}\n`;

describe('status and stat: where a process lives', () => {
  it('reads Name, PPid and NSpid: one entry in the reader’s namespace, one per nested namespace below it', () => {
    expect(parseStatusIds(status('bash', 1, [4242]))).toEqual({ name: 'bash', ppid: 1, nsPids: [4242] });
    expect(parseStatusIds(status('sh', 5000, [5007, 7]))).toEqual({ name: 'sh', ppid: 5000, nsPids: [5007, 7] });
    expect(parseStatusIds(status('pytest', 5010, [5012, 9, 2]))?.nsPids).toEqual([5012, 9, 2]);
    // before Linux 4.1 there is no NSpid line
    expect(parseStatusIds('Name:\tsh\nPPid:\t1\n')).toEqual({ name: 'sh', ppid: 1, nsPids: [] });
    expect(parseStatusIds('garbage')).toBeNull();
  });

  it('tells a kernel thread by PF_KTHREAD in the stat flags, whatever its pid or name', () => {
    // stat lines as Linux 6.x writes them: kthreadd (flags 0x208040) and a shell (0x400100)
    expect(isKernelThreadStat('2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0 18446744073709551615')).toBe(true);
    expect(isKernelThreadStat('7 (kworker/R-netns) I 2 0 0 0 -1 69238880 0 0 0 0 0 0 0 0 0 -20 1 0 3 0 0')).toBe(true);
    expect(isKernelThreadStat('4242 (a) b) S 1 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 90 0 0')).toBe(false);
  });
});

describe('envelope pids to host pids (pure)', () => {
  it("maps the container's namespace pids through NSpid at its init's depth, a sandboxed agent included", () => {
    const view = pidViewOf(
      running,
      [
        { pid: 5000, nsPids: [5000, 1] },
        { pid: 5007, nsPids: [5007, 7] },
        // an agent in a sandbox of its own (bubblewrap --unshare-pid): 9 in the container, 1 in the sandbox
        { pid: 5012, nsPids: [5012, 9, 1] },
      ],
      '/proc',
    );
    expect(view.kind).toBe('translated');
    expect(view.kind === 'translated' && [...view.hostPidOf]).toEqual([
      [1, 5000],
      [7, 5007],
      [9, 5012],
    ]);
  });

  it('a container on the host’s PID namespace (--pid host) maps every pid to itself', () => {
    const view = pidViewOf(
      running,
      [
        { pid: 5000, nsPids: [5000] },
        { pid: 5007, nsPids: [5007] },
      ],
      '/proc',
    );
    expect(view.kind === 'translated' && view.hostPidOf.get(5007)).toBe(5007);
  });

  it('an init the scan did not see means the watchdog lacks the host PID view: unknown, with the reason', () => {
    const view = pidViewOf(running, [], '/proc');
    expect(view).toEqual({ kind: 'unknown', container: 'orch', reason: expect.stringMatching(/host pid 5000\b.*\(pid: host\)$/) });
    expect(pidViewOf({ kind: 'stopped', container: 'orch', status: 'exited' }, [], '/proc')).toEqual({
      kind: 'stopped',
      container: 'orch',
      status: 'exited',
    });
  });
});

describe('the directory answers in host pids', () => {
  it('translated: owners and protected pids are the host pids; an unresolved agent protects nothing', () => {
    const dir = new AgentDirectory();
    dir.update([agent(7), agent(12, '679')]);
    dir.pidView = { kind: 'translated', container: 'orch', hostPidOf: new Map([[7, 5007]]) };
    expect([...dir.byHostPid().keys()]).toEqual([5007]);
    expect(dir.byHostPid().get(5007)?.runId).toBe('678');
    expect(dir.byHostPid().get(7)).toBeUndefined();
    expect(dir.unlocatedReason()).toBeNull();
  });

  it('unknown: nothing is an agent, and while agents are listed nothing may be signalled', () => {
    const dir = new AgentDirectory();
    dir.pidView = { kind: 'unknown', container: 'orch', reason: 'no container is named "orch"' };
    expect(dir.unlocatedReason()).toBeNull();
    dir.update([agent(7)]);
    expect([...dir.byHostPid().keys()]).toEqual([]);
    expect(dir.unlocatedReason()).toBe('WATCHDOG_ORCH_CONTAINER=orch: no container is named "orch"');
  });

  it('shared: the envelope pids are the host pids, as before', () => {
    const dir = new AgentDirectory();
    dir.update([agent(4242), agent(1)]);
    expect([...dir.byHostPid().keys()]).toEqual([4242]);
    expect(dir.byHostPid().get(4242)?.runId).toBe('678');
  });
});

describe('warnings name WATCHDOG_ORCH_CONTAINER (pure)', () => {
  const probe = (pid: number, over: Partial<PidProbe> = {}): PidProbe => ({
    pid,
    name: 'claude',
    ppid: 1000,
    nsPids: [pid],
    isKernelThread: false,
    ...over,
  });

  it('shared view: no such process, a kernel thread, another namespace; a plain host process is taken as the agent', () => {
    const agents = [agent(7, 'a'), agent(8, 'b'), agent(9, 'c'), agent(4242, 'd'), agent(1, 'e')];
    const probes = [
      probe(8, { name: 'kworker/R-netns', ppid: 2, isKernelThread: true }),
      probe(9, { name: 'sh', nsPids: [9, 3] }),
      probe(4242),
    ];
    const warnings = agentPidWarnings(agents, { kind: 'shared' }, probes, '');
    expect(warnings.map((w) => [w.key, w.value, w.runId, w.pid])).toEqual([
      ['WATCHDOG_ORCH_CONTAINER', '', 'a', 7],
      ['WATCHDOG_ORCH_CONTAINER', '', 'b', 8],
      ['WATCHDOG_ORCH_CONTAINER', '', 'c', 9],
      ['WATCHDOG_ORCH_CONTAINER', '', 'e', 1],
    ]);
    expect(warnings.map((w) => w.message.split(';')[0])).toEqual([
      'agent run a: no process has pid 7 on this host',
      'agent run b: pid 8 is a kernel thread (kworker/R-netns) on this host',
      'agent run c: pid 9 is sh, a process of another PID namespace (pid 3 there)',
      "agent run e: pid 1 is the namespace's init, never an agent",
    ]);
    expect(warnings[0]?.message).toContain("set WATCHDOG_ORCH_CONTAINER to that container's name");
  });

  it('translated: a pid that is no process of the container says to check the name; a stopped container warns nothing', () => {
    const view = { kind: 'translated' as const, container: 'orch', hostPidOf: new Map([[7, 5007]]) };
    const warnings = agentPidWarnings([agent(7), agent(8, '679')], view, [], 'orch');
    expect(warnings.map((w) => w.message)).toEqual([
      "agent run 679: pid 8 is no process of container orch; check that WATCHDOG_ORCH_CONTAINER names the orchestrator's container",
    ]);
    expect(agentPidWarnings([agent(7)], { kind: 'stopped', container: 'orch', status: 'exited' }, [], 'orch')).toEqual([]);
  });

  it('unknown: one warning for every agent, saying nothing is terminated', () => {
    const view = { kind: 'unknown' as const, container: 'orch', reason: 'no container is named "orch"' };
    const [w, ...rest] = agentPidWarnings([agent(7), agent(8)], view, [], 'orch');
    expect(rest).toEqual([]);
    expect(w).toMatchObject({ runId: null, pid: null, value: 'orch' });
    expect(w?.message).toMatch(/container orch: no container is named "orch"; nothing is terminated until they can/);
  });

  it('shows a warning once two passes in a row found it: an agent that just exited is not a misconfiguration', () => {
    const dir = new AgentDirectory();
    const pass = (agents: AgentInfo[]) => {
      dir.update(agents);
      dir.startPlacement({ kind: 'shared' }, '/proc').place({ members: [], probes: [] });
      return dir.pidWarnings;
    };
    const [w] = agentPidWarnings([agent(7)], { kind: 'shared' }, [], '');
    expect(pass([agent(7)])).toEqual([]);
    expect(pass([agent(7)])).toEqual([w]);
    expect(pass([])).toEqual([]);
    expect(pass([agent(7)])).toEqual([]);
  });
});

describe('the scan reads namespaces only where asked, once per process', () => {
  let t: FakeProc | null = null;
  afterEach(() => t?.cleanup());

  it("reports the container's processes with their NSpid and probes asked-for pids; a process's cgroup is read once", () => {
    t = new FakeProc(1_700_000_000)
      .add({ pid: 5000, startTicks: 1, argv: ['sleep', '100000'] })
      .add({ pid: 5007, ppid: 5000, startTicks: 2, argv: ['sh', '/t/agent.sh'] })
      .add({ pid: 6000, startTicks: 3, argv: ['nginx'] })
      .add({ pid: 4242, startTicks: 4, argv: ['claude'] });
    const files: Record<number, [string, string]> = {
      5000: [`0::/docker/${ID}\n`, status('sleep', 4990, [5000, 1])],
      5007: [`12:pids:/docker/${ID}\n0::/docker/${ID}\n`, status('sh', 5000, [5007, 7])],
      6000: [`0::/docker/${'b'.repeat(64)}\n`, status('nginx', 5990, [6000, 1])],
      4242: ['0::/user.slice\n', status('claude', 1, [4242])],
    };
    for (const [pid, [cgroup, text]] of Object.entries(files)) {
      writeFileSync(join(t.root, pid, 'cgroup'), cgroup);
      writeFileSync(join(t.root, pid, 'status'), text);
    }
    const reads: string[] = [];
    const counting = {
      ...fs,
      openSync: ((path: string, flags: string) => (reads.push(path), fs.openSync(path, flags))) as typeof fs.openSync,
    };
    const s = new Scanner(
      { root: t.root, patterns: ['pytest'], exclude: [], mode: 'program', recheckMs: 60_000, cmdlineMaxBytes: 4096 },
      { fs: counting, now: () => 0, random: () => 1 },
    );
    const first = s.scan({ containerId: ID, probePids: [4242, 9] });
    expect(first.members.sort((a, b) => a.pid - b.pid)).toEqual([
      { pid: 5000, nsPids: [5000, 1] },
      { pid: 5007, nsPids: [5007, 7] },
    ]);
    expect(first.probes).toEqual([{ pid: 4242, name: 'claude', ppid: 1, nsPids: [4242], isKernelThread: false }]);
    const cgroupReads = () => reads.filter((p) => p.endsWith('/cgroup')).length;
    expect(cgroupReads()).toBe(4);
    const second = s.scan({ containerId: ID, probePids: [] });
    expect(second.members).toHaveLength(2);
    expect(cgroupReads()).toBe(4);
    // a member's NSpid once; a probe every pass it is asked for (9 has no process)
    expect(
      reads
        .filter((p) => p.endsWith('/status'))
        .map((p) => p.slice(t!.root.length))
        .sort(),
    ).toEqual(['/4242/status', '/5000/status', '/5007/status', '/9/status']);
    // without a request nothing of the kind is read
    const before = reads.length;
    s.scan();
    expect(reads.slice(before).filter((p) => /\/(cgroup|status)$/.test(p))).toEqual([]);
  });
});
