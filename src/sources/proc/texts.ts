import { formatDuration, t, type Locale } from '../../i18n.js';
import type { Signal } from '../../watchdog/signal.js';
import type { Candidate, Owner, RunAlert } from './runs.js';

type Texts = Pick<Signal, 'title' | 'detail'>;

/** The command an operator runs: exactly the run's processes, never a shell or agent that started it. */
function killCommand(a: RunAlert): string {
  const pids = a.processes.map((p) => p.pid).sort((x, y) => x - y);
  return `kill -TERM ${pids.join(' ')}`;
}

function parentText(c: Candidate, locale: Locale): string {
  if (c.isOrphaned) {
    const via = c.ppid === 1 ? '' : ` (${c.parentComm ?? '?'} ${c.ppid})`;
    return t(locale, { en: `orphaned${via}`, ru: `осиротел${via}` });
  }
  const name = c.parentComm === null ? '' : ` ${c.parentComm}`;
  return t(locale, { en: `parent ${c.ppid}${name}`, ru: `родитель ${c.ppid}${name}` });
}

function ownerText(owner: Owner, isGone: boolean, locale: Locale): string {
  if (owner === null) return t(locale, { en: 'owner unknown', ru: 'владелец неизвестен' });
  if (owner.kind === 'retest') return t(locale, { en: `merge-gate re-test ${owner.id}`, ru: `повторный прогон merge-gate ${owner.id}` });
  const who = [`${owner.runId}`, owner.task, owner.stage].filter((x) => x !== null).join(', ');
  return isGone
    ? t(locale, { en: `started by agent run ${who}, which is gone`, ru: `запущен агентом ${who}, которого больше нет` })
    : t(locale, { en: `started by agent run ${who}`, ru: `запущен агентом ${who}` });
}

function resourcesText(a: RunAlert, locale: Locale): string {
  const parts: string[] = [];
  if (a.locks.length > 0) {
    const list = a.locks.map((l) => `${l.path} (${l.kind})`).join(', ');
    parts.push(t(locale, { en: `holds locks: ${list}`, ru: `держит блокировки: ${list}` }));
  }
  if (a.ports.length > 0) {
    const list = a.ports.join(', ');
    parts.push(t(locale, { en: `listens on TCP ${list}`, ru: `слушает TCP ${list}` }));
  }
  return parts.length > 0 ? ` ${parts.join('; ')}.` : '';
}

function liveRunTexts(a: RunAlert, locale: Locale): Texts {
  const c = a.lead;
  const age = formatDuration(c.ageS, locale);
  const cpu = formatDuration(c.cpuS, locale);
  const below = a.processes.length - 1;
  const run =
    below > 0 ? t(locale, { en: ` It has ${below} live descendant process(es).`, ru: ` У него ${below} живых дочерних процесс(ов).` }) : '';
  const facts = `PID ${c.pid}, ${t(locale, { en: 'age', ru: 'возраст' })} ${age}, CPU ${cpu}, ${parentText(c, locale)}, ${ownerText(c.owner, a.isOwnerGone, locale)}.`;
  return {
    title: t(locale, { en: `Test process ${c.pid} has been running for ${age}`, ru: `Тестовый процесс ${c.pid} работает уже ${age}` }),
    detail:
      facts +
      run +
      resourcesText(a, locale) +
      t(locale, {
        en: ` Command: ${c.cmdline}. Stop it: ${killCommand(a)}`,
        ru: ` Команда: ${c.cmdline}. Остановить: ${killCommand(a)}`,
      }),
  };
}

function leftoverTexts(a: RunAlert, locale: Locale): Texts {
  const gone = formatDuration(a.goneForS ?? 0, locale);
  const list = a.leftovers.map((l) => `${l.pid} ${l.cmdline}`).join('; ');
  const n = a.leftovers.length;
  return {
    title: t(locale, {
      en: `Test run ${a.top.pid} left ${n} process(es) behind`,
      ru: `Тестовый прогон ${a.top.pid} оставил после себя процессов: ${n}`,
    }),
    detail:
      t(locale, {
        en: `The test process ${a.top.pid} is gone since ${gone}, ${ownerText(a.lead.owner, a.isOwnerGone, locale)}. Leftovers: ${list}.`,
        ru: `Тестового процесса ${a.top.pid} нет уже ${gone}, ${ownerText(a.lead.owner, a.isOwnerGone, locale)}. Оставшиеся процессы: ${list}.`,
      }) +
      resourcesText(a, locale) +
      t(locale, { en: ` Stop them: ${killCommand(a)}`, ru: ` Остановить: ${killCommand(a)}` }),
  };
}

export function blockingTexts(a: RunAlert, locale: Locale): Texts {
  return a.goneForS === null ? liveRunTexts(a, locale) : leftoverTexts(a, locale);
}

export type GoneReason = 'exited' | 'reused' | 'not_matching';

export function recoveredTexts(pid: number, reason: GoneReason, locale: Locale): Texts {
  const why = {
    exited: t(locale, { en: 'the process exited', ru: 'процесс завершился' }),
    reused: t(locale, {
      en: 'the process exited and its pid now belongs to another process',
      ru: 'процесс завершился, его pid занят другим процессом',
    }),
    not_matching: t(locale, {
      en: 'its command line no longer matches WATCHDOG_PROC_PATTERNS, or its run ended and what it left is within WATCHDOG_PROC_LEFTOVER_GRACE_S',
      ru: 'его командная строка больше не совпадает с WATCHDOG_PROC_PATTERNS, или прогон завершён и оставшиеся процессы ещё в WATCHDOG_PROC_LEFTOVER_GRACE_S',
    }),
  }[reason];
  return {
    title: t(locale, { en: `Test process ${pid} is gone`, ru: `Тестового процесса ${pid} больше нет` }),
    detail: t(locale, { en: `PID ${pid}: ${why}.`, ru: `PID ${pid}: ${why}.` }),
  };
}

interface ReapFacts {
  runPid: number;
  pids: number[];
  trigger: 'reaper' | 'api';
  outcome: 'terminated' | 'killed' | 'survived';
  ageS: number;
  cmdline: string;
}

export function reapedTexts(r: ReapFacts, locale: Locale): Texts {
  const age = formatDuration(r.ageS, locale);
  const whom = t(locale, { en: `the run's processes ${r.pids.join(', ')}`, ru: `процессы прогона ${r.pids.join(', ')}` });
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
    title: t(locale, {
      en: `Test process ${r.runPid} terminated after ${age}`,
      ru: `Тестовый процесс ${r.runPid} остановлен через ${age}`,
    }),
    detail: t(locale, {
      en: `Terminated by ${by}: ${whom}: ${how}. Command: ${r.cmdline}`,
      ru: `Остановлен (${by}): ${whom}: ${how}. Команда: ${r.cmdline}`,
    }),
  };
}
