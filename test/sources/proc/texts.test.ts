import { describe, expect, it } from 'vitest';
import type { Candidate, RunAlert } from '../../../src/sources/proc/runs.js';
import { blockingTexts, recoveredTexts } from '../../../src/sources/proc/signals.js';
import { reapedTexts } from '../../../src/sources/proc/stop.js';

const c: Candidate = {
  pid: 4242,
  ppid: 1,
  pgrp: 4240,
  startTicks: 1,
  comm: 'python3',
  parentComm: 'process_api',
  ageS: 2 * 3600 + 14 * 60 + 5,
  cpuS: 63 * 60,
  cmdline: 'python3 -m pytest --token *** tests/',
  isOrphaned: true,
  isBlocking: true,
  match: 'program',
  run: { pid: 4242, startTicks: 1 },
  owner: null,
  locks: [],
  ports: [],
};

const ids = (...pids: number[]) => pids.map((pid) => ({ pid, startTicks: 1 }));

const alert = (over: Partial<RunAlert> = {}): RunAlert => ({
  top: { pid: 4242, startTicks: 1 },
  lead: c,
  processes: ids(4242),
  leftovers: [],
  goneForS: null,
  isOwnerGone: false,
  isBlocking: true,
  locks: [],
  ports: [],
  ...over,
});

// The 3 a.m. reader needs: which pid, how old, what it is, whose it is, and what to type.
describe('the proc_blocking alert is actionable', () => {
  it('English: pid, age in words, CPU, orphaned, owner, redacted cmdline, the kill command for exactly the run', () => {
    const { title, detail } = blockingTexts(alert({ processes: ids(4250, 4242) }), 'en');
    expect(title).toBe('Test process 4242 has been running for 2 h 14 min');
    expect(detail).toBe(
      'PID 4242, age 2 h 14 min, CPU 1 h 3 min, orphaned, owner unknown. It has 1 live descendant process(es). ' +
        'Command: python3 -m pytest --token *** tests/. Stop it: kill -TERM 4242 4250',
    );
  });

  it('Russian', () => {
    const { title, detail } = blockingTexts(alert(), 'ru');
    expect(title).toBe('Тестовый процесс 4242 работает уже 2 ч 14 мин');
    expect(detail).toContain('возраст 2 ч 14 мин, CPU 1 ч 3 мин, осиротел');
    expect(detail).toContain('Остановить: kill -TERM 4242');
  });

  it('names the parent when the process is not orphaned, and the subreaper when adopted by one', () => {
    expect(blockingTexts(alert({ lead: { ...c, ppid: 300, parentComm: 'make', isOrphaned: false } }), 'en').detail).toContain(
      'parent 300 make',
    );
    expect(blockingTexts(alert({ lead: { ...c, ppid: 7, parentComm: 'tini' } }), 'en').detail).toContain('orphaned (tini 7)');
  });

  it('names the owner, says when the agent is gone, and lists locks and ports (en and ru)', () => {
    const owner = { kind: 'agent' as const, runId: '678', task: 'ORCH-111', stage: 'tester' };
    const a = alert({
      lead: { ...c, owner },
      isOwnerGone: true,
      locks: [{ path: '/repo/.git/index.lock', kind: 'flock write' }],
      ports: [8000],
    });
    const en = blockingTexts(a, 'en').detail;
    expect(en).toContain('started by agent run 678, ORCH-111, tester, which is gone');
    expect(en).toContain('holds locks: /repo/.git/index.lock (flock write); listens on TCP 8000.');
    const ru = blockingTexts(a, 'ru').detail;
    expect(ru).toContain('запущен агентом 678, ORCH-111, tester, которого больше нет');
    expect(ru).toContain('держит блокировки: /repo/.git/index.lock (flock write); слушает TCP 8000.');
    expect(blockingTexts(alert({ lead: { ...c, owner: { kind: 'retest', id: 'r-1' } } }), 'en').detail).toContain('merge-gate re-test r-1');
  });

  it('a finished run names its leftovers and stops exactly them (en and ru)', () => {
    const left = { ...c, pid: 5000, match: 'leftover' as const, cmdline: 'python3 -m http.server 8000' };
    const a = alert({ lead: left, leftovers: [left], goneForS: 180, processes: ids(5000), ports: [8000] });
    const en = blockingTexts(a, 'en');
    expect(en.title).toBe('Test run 4242 left 1 process(es) behind');
    expect(en.detail).toContain('The test process 4242 is gone since 3 min');
    expect(en.detail).toContain('Leftovers: 5000 python3 -m http.server 8000.');
    expect(en.detail).toContain('Stop them: kill -TERM 5000');
    expect(blockingTexts(a, 'ru').title).toBe('Тестовый прогон 4242 оставил после себя процессов: 1');
  });
});

describe('recovery and reap texts', () => {
  it('says why a process is gone', () => {
    expect(recoveredTexts(42, 'exited', 'en')).toEqual({ title: 'Test process 42 is gone', detail: 'PID 42: the process exited.' });
    expect(recoveredTexts(42, 'reused', 'en').detail).toContain('now belongs to another process');
    expect(recoveredTexts(42, 'not_matching', 'ru').detail).toContain('больше не совпадает');
  });

  it('says who terminated what and whether SIGKILL was needed', () => {
    const r = reapedTexts({ runPid: 42, pids: [42, 43], trigger: 'reaper', outcome: 'killed', ageS: 5 * 3600, cmdline: 'pytest' }, 'en');
    expect(r.title).toBe('Test process 42 terminated after 5 h 0 min');
    expect(r.detail).toBe(
      "Terminated by the reaper (WATCHDOG_PROC_REAP_ENABLED): the run's processes 42, 43: ignored SIGTERM and was killed with SIGKILL. Command: pytest",
    );
    expect(
      reapedTexts({ runPid: 42, pids: [42], trigger: 'api', outcome: 'survived', ageS: 60, cmdline: 'pytest' }, 'ru').detail,
    ).toContain('ВСЁ ЕЩЁ жив');
  });
});
