import { formatDuration, t, type Locale } from '../../i18n.js';
import type { Candidate } from './candidates.js';

export interface Texts {
  title: string;
  detail: string;
}

/** The command an operator runs: the whole process group unless that group is unsafe to signal. */
export function killCommand(pid: number, pgrp: number, canSignalGroup: boolean): string {
  return canSignalGroup ? `kill -TERM -- -${pgrp}` : `kill -TERM ${pid}`;
}

function parentText(c: Candidate, locale: Locale): string {
  if (c.isOrphaned) {
    const via = c.ppid === 1 ? '' : ` (${c.parentComm ?? '?'} ${c.ppid})`;
    return t(locale, { en: `orphaned${via}`, ru: `осиротел${via}` });
  }
  const name = c.parentComm === null ? '' : ` ${c.parentComm}`;
  return t(locale, { en: `parent ${c.ppid}${name}`, ru: `родитель ${c.ppid}${name}` });
}

export function blockingTexts(c: Candidate, locale: Locale, canSignalGroup: boolean): Texts {
  const age = formatDuration(c.ageS, locale);
  const cpu = formatDuration(c.cpuS, locale);
  const kill = killCommand(c.pid, c.pgrp, canSignalGroup);
  return {
    title: t(locale, {
      en: `Test process ${c.pid} has been running for ${age}`,
      ru: `Тестовый процесс ${c.pid} работает уже ${age}`,
    }),
    detail: t(locale, {
      en: `PID ${c.pid}, age ${age}, CPU ${cpu}, ${parentText(c, locale)}. Command: ${c.cmdline}. Stop it: ${kill}`,
      ru: `PID ${c.pid}, возраст ${age}, CPU ${cpu}, ${parentText(c, locale)}. Команда: ${c.cmdline}. Остановить: ${kill}`,
    }),
  };
}

export type GoneReason = 'exited' | 'reused' | 'not_matching';

export function recoveredTexts(pid: number, reason: GoneReason, locale: Locale): Texts {
  const why = {
    exited: t(locale, { en: 'the process exited', ru: 'процесс завершился' }),
    reused: t(locale, { en: 'the process exited and its pid now belongs to another process', ru: 'процесс завершился, его pid занят другим процессом' }),
    not_matching: t(locale, { en: 'its command line no longer matches WATCHDOG_PROC_PATTERNS', ru: 'его командная строка больше не совпадает с WATCHDOG_PROC_PATTERNS' }),
  }[reason];
  return {
    title: t(locale, { en: `Test process ${pid} is gone`, ru: `Тестового процесса ${pid} больше нет` }),
    detail: t(locale, { en: `PID ${pid}: ${why}.`, ru: `PID ${pid}: ${why}.` }),
  };
}

export interface ReapFacts {
  pid: number;
  pgrp: number;
  target: 'group' | 'process';
  trigger: 'reaper' | 'api';
  outcome: 'terminated' | 'killed' | 'survived';
  ageS: number;
  cmdline: string;
}

export function reapedTexts(r: ReapFacts, locale: Locale): Texts {
  const age = formatDuration(r.ageS, locale);
  const whom = r.target === 'group' ? t(locale, { en: `process group ${r.pgrp}`, ru: `группа процессов ${r.pgrp}` }) : `PID ${r.pid}`;
  const how = {
    terminated: t(locale, { en: 'exited after SIGTERM', ru: 'завершение по SIGTERM' }),
    killed: t(locale, { en: 'ignored SIGTERM and was killed with SIGKILL', ru: 'SIGTERM проигнорирован, добит SIGKILL' }),
    survived: t(locale, { en: 'is STILL ALIVE after SIGKILL; check it by hand', ru: 'ВСЁ ЕЩЁ жив после SIGKILL, проверьте вручную' }),
  }[r.outcome];
  const by = {
    reaper: t(locale, { en: 'the reaper (WATCHDOG_PROC_REAP_ENABLED)', ru: 'автоматическая очистка (WATCHDOG_PROC_REAP_ENABLED)' }),
    api: t(locale, { en: 'an API request', ru: 'запрос через API' }),
  }[r.trigger];
  return {
    title: t(locale, { en: `Test process ${r.pid} terminated after ${age}`, ru: `Тестовый процесс ${r.pid} остановлен через ${age}` }),
    detail: t(locale, {
      en: `Terminated by ${by}: ${whom} ${how}. Command: ${r.cmdline}`,
      ru: `Остановлен (${by}): ${whom}: ${how}. Команда: ${r.cmdline}`,
    }),
  };
}
