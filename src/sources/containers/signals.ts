import type { ContainerState } from './docker-client.js';
import { exitText, lastExitWhileRunning, type SeenExit } from './last-exit.js';
import { formatDuration, t, type Locale } from '../../i18n.js';
import { redactSecrets, truncate } from '../../redact.js';
import { makeSignal, type Severity, type Signal } from '../../watchdog/signal.js';

/** Docker names cannot start with "@", so the engine's own signal never collides with a container. */
export const ENGINE_ENTITY = '@engine';

/** Two restarts within 15 min is a crash loop; one restart (an OOM at night) is not. */
export const CRASH_LOOP_RESTARTS = 2;
export const CRASH_LOOP_WINDOW_S = 15 * 60;

/** Health-check output kept in a detail: enough for the error line, not a log dump. */
export const HEALTH_OUTPUT_MAX_CHARS = 300;
export const ENGINE_ERROR_MAX_CHARS = 300;

export type ContainerLookup =
  { kind: 'found'; state: ContainerState } | { kind: 'missing'; similar: string[] } | { kind: 'error'; reason: string };

/** One pass over the engine: either it did not answer at all, or each watched name was looked up. */
export type EngineOutcome = { ok: false; reason: string } | { ok: true; lookups: ReadonlyMap<string, ContainerLookup> };

export interface ContainerSettings {
  names: readonly string[];
  socketPath: string;
  locale: Locale;
}

interface RestartSample {
  atMs: number;
  count: number;
}

/** One inspect of one container, with the texts every verdict shares. */
interface Reading {
  name: string;
  c: ContainerState;

  recent: number;
  since: (iso: string | null) => string;
  restarts: string;
  problem: (severity: Severity, en: string, ru: string, detail: string) => Verdict;
}

interface Verdict {
  active: boolean;
  severity: Severity;
  title: string;
  detail: string;
  restartTrouble?: boolean;
}

/** Pure. While the engine cannot be read, names keep their last verdict (no re-alerts), so N containers never flap at once. */
export class ContainerSignals {
  private readonly restarts = new Map<string, RestartSample[]>();
  private readonly last = new Map<string, { signal: Signal; atMs: number }>();
  /** Names last judged restarting or crash-looping: a loop caught between restarts stays active. */
  private readonly looping = new Set<string>();
  /** The last exit seen per name: a loop sampled while briefly running still quotes the real code, never the reset 0. */
  private readonly exits = new Map<string, SeenExit>();

  constructor(private readonly s: ContainerSettings) {}

  next(outcome: EngineOutcome, nowMs: number): Signal[] {
    const failures: string[] = [];
    const inspectFailures = new Map<string, string[]>();
    const signals: Signal[] = [];
    if (!outcome.ok) failures.push(outcome.reason);
    for (const name of this.s.names) {
      const lookup = outcome.ok ? outcome.lookups.get(name) : undefined;
      if (lookup === undefined || lookup.kind === 'error') {
        if (lookup?.kind === 'error') inspectFailures.set(lookup.reason, [...(inspectFailures.get(lookup.reason) ?? []), name]);
        const carried = this.carried(name);
        if (carried) signals.push(carried);
        continue;
      }
      const signal = this.containerSignal(name, lookup, nowMs);
      this.last.set(name, { signal, atMs: nowMs });
      signals.push(signal);
    }
    const { locale } = this.s;
    for (const [reason, names] of inspectFailures) {
      failures.push(
        t(locale, { en: `inspect of ${names.join(', ')} failed: ${reason}`, ru: `не удалось прочитать ${names.join(', ')}: ${reason}` }),
      );
    }
    return [this.engineSignal(failures, outcome.ok ? outcome.lookups.size : 0), ...signals];
  }

  private engineSignal(failures: string[], checked: number): Signal {
    const { locale, socketPath } = this.s;
    const active = failures.length > 0;
    const reason = truncate(redactSecrets(failures.join('; ')), ENGINE_ERROR_MAX_CHARS);
    return makeSignal({
      family: 'container',
      entity: ENGINE_ENTITY,
      active,
      severity: 'critical',
      title: t(locale, { en: 'Docker Engine unreachable', ru: 'Docker Engine недоступен' }),
      detail: active
        ? t(locale, {
            en: `${reason}; container states are frozen at their last reading until it answers`,
            ru: `${reason}; состояние контейнеров заморожено на последнем чтении, пока он не ответит`,
          })
        : t(locale, {
            en: `answers on ${socketPath}; ${checked} container(s) checked`,
            ru: `отвечает на ${socketPath}; проверено контейнеров: ${checked}`,
          }),
    });
  }

  /** The last verdict, unchanged in state, with re-alerts held back until the engine is read again. */
  private carried(name: string): Signal | null {
    const prev = this.last.get(name);
    if (prev === undefined) return null;
    const { locale } = this.s;
    const at = new Date(prev.atMs).toISOString();
    return {
      ...prev.signal,
      cooldownS: Number.POSITIVE_INFINITY,
      detail: `${prev.signal.detail} ${t(locale, { en: `(last reading ${at}; engine unreachable)`, ru: `(последнее чтение ${at}; Docker недоступен)` })}`,
    };
  }

  private containerSignal(name: string, lookup: Exclude<ContainerLookup, { kind: 'error' }>, nowMs: number): Signal {
    const verdict = lookup.kind === 'missing' ? this.missing(name, lookup.similar) : this.assess(name, lookup.state, nowMs);
    if (lookup.kind === 'missing') {
      this.restarts.delete(name);
      this.exits.delete(name);
    }
    if (verdict.restartTrouble) this.looping.add(name);
    else this.looping.delete(name);
    delete verdict.restartTrouble;
    return makeSignal({ family: 'container', entity: name, ...verdict });
  }

  private missing(name: string, similar: string[]): Verdict {
    const { locale } = this.s;
    const hint = similar.length > 0 ? similar.slice(0, 3).join(', ') : '';
    return {
      active: true,
      severity: 'critical',
      title: t(locale, { en: `Container ${name} not found`, ru: `Контейнер ${name} не найден` }),
      detail: t(locale, {
        en: `no container is named "${name}"${hint ? `; similar names: ${hint}` : ''}`,
        ru: `контейнера с именем "${name}" нет${hint ? `; похожие имена: ${hint}` : ''}`,
      }),
    };
  }

  /** Restarts seen within the crash-loop window, from the count observed at the window's start. */
  private restartsInWindow(name: string, count: number, nowMs: number): number {
    let samples = this.restarts.get(name) ?? [];
    const lastSample = samples.at(-1);
    // A lower count means the container was recreated or started by hand: a new history.
    if (lastSample !== undefined && count < lastSample.count) samples = [];
    if (samples.at(-1)?.count !== count) samples.push({ atMs: nowMs, count });
    const windowStart = nowMs - CRASH_LOOP_WINDOW_S * 1000;
    while (samples.length > 1 && (samples[1]?.atMs ?? nowMs) <= windowStart) samples.shift();
    this.restarts.set(name, samples);
    return count - (samples[0]?.count ?? count);
  }

  private assess(name: string, c: ContainerState, nowMs: number): Verdict {
    const { locale } = this.s;
    const recent = this.restartsInWindow(name, c.restartCount, nowMs);
    const windowMin = CRASH_LOOP_WINDOW_S / 60;
    const reading: Reading = {
      name,
      c,
      recent,
      since: (iso) => {
        if (iso === null) return '-';
        const ageS = (nowMs - Date.parse(iso)) / 1000;
        return Number.isFinite(ageS) ? `${iso} (${formatDuration(ageS, locale)} ${t(locale, { en: 'ago', ru: 'назад' })})` : iso;
      },
      restarts: t(locale, {
        en: `restarted ${c.restartCount} time(s)${recent > 0 ? `, ${recent} in the last ${windowMin} min` : ''}`,
        ru: `перезапусков: ${c.restartCount}${recent > 0 ? `, за последние ${windowMin} мин: ${recent}` : ''}`,
      }),
      problem: (severity, en, ru, detail) => ({
        active: true,
        severity,
        title: t(locale, { en: `Container ${name} ${en}`, ru: `Контейнер ${name} ${ru}` }),
        detail,
      }),
    };
    if (c.status === 'exited' || c.status === 'dead' || c.status === 'restarting') {
      this.exits.set(name, { exitCode: c.exitCode, oomKilled: c.oomKilled, finishedAt: c.finishedAt });
    }
    return c.status === 'running' ? this.whileRunning(reading) : this.notRunning(reading);
  }

  /** Docker's own state says what is wrong; its exit code is valid here (the container is down). */
  private notRunning({ c, since, restarts, problem }: Reading): Verdict {
    const { locale } = this.s;
    const exit = exitText(c, locale);
    const engineError = c.error
      ? `; ${t(locale, { en: 'engine error', ru: 'ошибка Docker' })}: ${truncate(redactSecrets(c.error), ENGINE_ERROR_MAX_CHARS)}`
      : '';
    switch (c.status) {
      case 'dead':
        return problem(
          'critical',
          'is dead',
          'мёртв (dead)',
          `dead, ${exit}, ${t(locale, { en: 'since', ru: 'с' })} ${since(c.finishedAt)}; ${restarts}${engineError}`,
        );
      case 'exited':
        return problem(
          'critical',
          'has exited',
          'остановлен',
          `exited, ${exit}, ${t(locale, { en: 'at', ru: 'в' })} ${since(c.finishedAt)}; ${restarts}${engineError}`,
        );
      case 'restarting':
        return {
          ...problem(
            'critical',
            'is restarting',
            'перезапускается',
            `restarting, ${t(locale, { en: 'last', ru: 'последний' })} ${exit} ${t(locale, { en: 'at', ru: 'в' })} ${since(c.finishedAt)}; ${restarts}${engineError}`,
          ),
          restartTrouble: true,
        };
      case 'paused':
        return problem(
          'warning',
          'is paused',
          'приостановлен',
          `paused; ${t(locale, { en: 'running since', ru: 'запущен с' })} ${since(c.startedAt)}`,
        );
      case 'created':
        return problem(
          'warning',
          'was never started',
          'не запускался',
          `${t(locale, { en: 'created, never started', ru: 'создан, но не запущен' })}${engineError}`,
        );
      case 'removing':
        return problem('warning', 'is being removed', 'удаляется', 'removing');
      default:
        return problem('warning', `is in state "${c.status}"`, `в состоянии "${c.status}"`, `${c.status}; ${restarts}`);
    }
  }

  /** Running: unhealthy, crash-looping (restarts in the window), or fine. */
  private whileRunning({ name, c, recent, since, restarts, problem }: Reading): Verdict {
    const { locale } = this.s;
    const runningSince = `${t(locale, { en: 'running since', ru: 'запущен с' })} ${since(c.startedAt)}`;
    if (c.health?.status === 'unhealthy') {
      const check = c.health.lastCheck;
      const output = check ? truncate(redactSecrets(check.output.replace(/\s+/g, ' ').trim()), HEALTH_OUTPUT_MAX_CHARS) : '';
      const lastCheck = check
        ? t(locale, {
            en: `; last check at ${check.at ?? '-'} exited ${check.exitCode}${output ? `: "${output}"` : ''}`,
            ru: `; последняя проверка в ${check.at ?? '-'}, код ${check.exitCode}${output ? `: "${output}"` : ''}`,
          })
        : '';
      return problem(
        'critical',
        'is unhealthy',
        'нездоров (unhealthy)',
        t(locale, {
          en: `unhealthy, ${c.health.failingStreak} failed check(s) in a row${lastCheck}; ${runningSince}; ${restarts}`,
          ru: `unhealthy, проверок подряд с ошибкой: ${c.health.failingStreak}${lastCheck}; ${runningSince}; ${restarts}`,
        }),
      );
    }
    // Once looping, any restart left in the window keeps it active, so sampling it between crashes cannot flap.
    if (recent >= CRASH_LOOP_RESTARTS || (recent > 0 && this.looping.has(name))) {
      return {
        ...problem(
          'critical',
          'is crash-looping',
          'падает и перезапускается по кругу',
          `${restarts}; ${lastExitWhileRunning(this.exits.get(name), c.finishedAt, locale, since)}; ${runningSince}`,
        ),
        restartTrouble: true,
      };
    }
    const health = c.health === null ? '' : `, ${c.health.status}`;
    return {
      active: false,
      severity: 'critical',
      title: t(locale, { en: `Container ${name}`, ru: `Контейнер ${name}` }),
      detail: `running${health}; ${runningSince}; ${restarts}`,
    };
  }
}
