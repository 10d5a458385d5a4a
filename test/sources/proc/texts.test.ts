import { describe, expect, it } from 'vitest';
import type { Candidate } from '../../../src/sources/proc/candidates.js';
import { blockingTexts, reapedTexts, recoveredTexts } from '../../../src/sources/proc/texts.js';

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
};

// The 3 a.m. reader needs: which pid, how old, what it is, whose it is, and what to type.
describe('the proc_blocking alert is actionable', () => {
  it('English: pid, age in words, CPU, orphaned, redacted cmdline, the kill command for the group', () => {
    const { title, detail } = blockingTexts(c, 'en', true);
    expect(title).toBe('Test process 4242 has been running for 2 h 14 min');
    expect(detail).toBe('PID 4242, age 2 h 14 min, CPU 1 h 3 min, orphaned. Command: python3 -m pytest --token *** tests/. Stop it: kill -TERM -- -4240');
  });

  it('Russian', () => {
    const { title, detail } = blockingTexts(c, 'ru', true);
    expect(title).toBe('Тестовый процесс 4242 работает уже 2 ч 14 мин');
    expect(detail).toContain('возраст 2 ч 14 мин, CPU 1 ч 3 мин, осиротел');
    expect(detail).toContain('Остановить: kill -TERM -- -4240');
  });

  it('names the parent when the process is not orphaned, and the subreaper when adopted by one', () => {
    expect(blockingTexts({ ...c, ppid: 300, parentComm: 'make', isOrphaned: false }, 'en', true).detail).toContain('parent 300 make');
    expect(blockingTexts({ ...c, ppid: 7, parentComm: 'tini' }, 'en', true).detail).toContain('orphaned (tini 7)');
  });

  it('suggests killing the pid alone when its group is the watchdog\'s own', () => {
    expect(blockingTexts(c, 'en', false).detail).toContain('Stop it: kill -TERM 4242');
  });
});

describe('recovery and reap texts', () => {
  it('says why a process is gone', () => {
    expect(recoveredTexts(42, 'exited', 'en')).toEqual({ title: 'Test process 42 is gone', detail: 'PID 42: the process exited.' });
    expect(recoveredTexts(42, 'reused', 'en').detail).toContain('now belongs to another process');
    expect(recoveredTexts(42, 'not_matching', 'ru').detail).toContain('больше не совпадает');
  });

  it('says who terminated what and whether SIGKILL was needed', () => {
    const r = reapedTexts({ pid: 42, pgrp: 40, target: 'group', trigger: 'reaper', outcome: 'killed', ageS: 5 * 3600, cmdline: 'pytest' }, 'en');
    expect(r.title).toBe('Test process 42 terminated after 5 h 0 min');
    expect(r.detail).toBe('Terminated by the reaper (WATCHDOG_PROC_REAP_ENABLED): process group 40 ignored SIGTERM and was killed with SIGKILL. Command: pytest');
    expect(reapedTexts({ pid: 42, pgrp: 40, target: 'process', trigger: 'api', outcome: 'survived', ageS: 60, cmdline: 'pytest' }, 'ru').detail).toContain('ВСЁ ЕЩЁ жив');
  });
});
