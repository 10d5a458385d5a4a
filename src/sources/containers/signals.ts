import type { ContainerState } from './docker-client.js';
import { formatDuration, translator, type Locale } from '../../i18n.js';
import { redactSecrets, truncate } from '../../redact.js';
import { makeSignal, type Severity, type Signal } from '../../watchdog/signal.js';

/** Docker names cannot start with "@", so the engine's own signal never collides with a container. */
export const ENGINE_ENTITY = '@engine';

/** Two restarts within 15 min is a crash loop; one restart (an OOM at night) is not. */
const CRASH_LOOP_RESTARTS = 2;
export const CRASH_LOOP_WINDOW_S = 15 * 60;

/** Health-check output and engine errors kept in a detail: enough for the error line, not a log dump. */
export const HEALTH_OUTPUT_MAX_CHARS = 300;
const ENGINE_ERROR_MAX_CHARS = 300;

export type ContainerLookup =
  { kind: 'found'; state: ContainerState } | { kind: 'missing'; similar: string[] } | { kind: 'error'; reason: string };

/** One pass over the engine: either it did not answer at all, or each watched name was looked up. */
type EngineOutcome = { ok: false; reason: string } | { ok: true; lookups: ReadonlyMap<string, ContainerLookup> };

/** An exit as Docker reported it while the container was down; a start zeroes `State.ExitCode`. */
type SeenExit = Pick<ContainerState, 'exitCode' | 'oomKilled' | 'finishedAt'>;

type Verdict = Pick<Signal, 'active' | 'severity' | 'title' | 'detail'> & { restartTrouble?: boolean };

/** Pure. While the engine cannot be read, names keep their last verdict (no re-alerts), so N containers never flap at once. */
export class ContainerSignals {
  private readonly restarts = new Map<string, { atMs: number; count: number }[]>();
  private readonly last = new Map<string, { signal: Signal; atMs: number }>();
  /** Names last judged restarting or crash-looping: a loop caught between restarts stays active. */
  private readonly looping = new Set<string>();
  /** The last exit seen per name: a loop sampled while briefly running still quotes the real code, never the reset 0. */
  private readonly exits = new Map<string, SeenExit>();
  private readonly tr: (en: string, ru: string) => string;
  /** When the reading being judged was taken. */
  private nowMs = 0;

  constructor(private readonly s: { names: readonly string[]; socketPath: string; locale: Locale }) {
    this.tr = translator(s.locale);
  }

  next(outcome: EngineOutcome, nowMs: number): Signal[] {
    this.nowMs = nowMs;
    const failures = outcome.ok ? [] : [outcome.reason];
    const inspectFailures = new Map<string, string[]>();
    const signals = this.s.names.flatMap((name): Signal[] => {
      const lookup = outcome.ok ? outcome.lookups.get(name) : undefined;
      if (lookup?.kind === 'error') inspectFailures.set(lookup.reason, [...(inspectFailures.get(lookup.reason) ?? []), name]);
      if (lookup === undefined || lookup.kind === 'error') return this.carried(name);
      const { restartTrouble, ...verdict } =
        lookup.kind === 'missing' ? this.missing(name, lookup.similar) : this.assess(name, lookup.state);
      if (restartTrouble) this.looping.add(name);
      else this.looping.delete(name);
      const signal = makeSignal({ family: 'container', entity: name, ...verdict });
      this.last.set(name, { signal, atMs: nowMs });
      return [signal];
    });
    for (const [reason, names] of inspectFailures) {
      failures.push(this.tr(`inspect of ${names.join(', ')} failed: ${reason}`, `не удалось прочитать ${names.join(', ')}: ${reason}`));
    }
    return [this.engineSignal(failures, outcome.ok ? outcome.lookups.size : 0), ...signals];
  }

  private engineSignal(failures: string[], checked: number): Signal {
    const active = failures.length > 0;
    const reason = truncate(redactSecrets(failures.join('; ')), ENGINE_ERROR_MAX_CHARS);
    const sock = this.s.socketPath;
    return makeSignal({
      family: 'container',
      entity: ENGINE_ENTITY,
      active,
      severity: 'critical',
      title: this.tr('Docker Engine unreachable', 'Docker Engine недоступен'),
      detail: active
        ? this.tr(
            `${reason}; container states are frozen at their last reading until it answers`,
            `${reason}; состояние контейнеров заморожено на последнем чтении, пока он не ответит`,
          )
        : this.tr(`answers on ${sock}; ${checked} container(s) checked`, `отвечает на ${sock}; проверено контейнеров: ${checked}`),
    });
  }

  /** The last verdict, unchanged in state, with re-alerts held back until the engine is read again. */
  private carried(name: string): Signal[] {
    const prev = this.last.get(name);
    if (prev === undefined) return [];
    const at = new Date(prev.atMs).toISOString();
    const note = this.tr(`(last reading ${at}; engine unreachable)`, `(последнее чтение ${at}; Docker недоступен)`);
    return [{ ...prev.signal, cooldownS: Number.POSITIVE_INFINITY, detail: `${prev.signal.detail} ${note}` }];
  }

  private missing(name: string, similar: string[]): Verdict {
    this.restarts.delete(name);
    this.exits.delete(name);
    const hint = similar.slice(0, 3).join(', ');
    const detail = this.tr(
      `no container is named "${name}"${hint ? `; similar names: ${hint}` : ''}`,
      `контейнера с именем "${name}" нет${hint ? `; похожие имена: ${hint}` : ''}`,
    );
    return this.problem(name, 'critical', 'not found', 'не найден', detail);
  }

  /** Restarts seen within the crash-loop window, from the count observed at the window's start. */
  private restartsInWindow(name: string, count: number): number {
    let samples = this.restarts.get(name) ?? [];
    // A lower count means the container was recreated or started by hand: a new history.
    if (count < (samples.at(-1)?.count ?? 0)) samples = [];
    if (samples.at(-1)?.count !== count) samples.push({ atMs: this.nowMs, count });
    const windowStart = this.nowMs - CRASH_LOOP_WINDOW_S * 1000;
    while (samples.length > 1 && (samples[1]?.atMs ?? this.nowMs) <= windowStart) samples.shift();
    this.restarts.set(name, samples);
    return count - (samples[0]?.count ?? count);
  }

  private since(iso: string | null): string {
    if (iso === null) return '-';
    const ageS = (this.nowMs - Date.parse(iso)) / 1000;
    return Number.isFinite(ageS) ? `${iso} (${formatDuration(ageS, this.s.locale)} ${this.tr('ago', 'назад')})` : iso;
  }

  private problem(name: string, severity: Severity, en: string, ru: string, detail: string, restartTrouble = false): Verdict {
    return { active: true, severity, title: this.tr(`Container ${name} ${en}`, `Контейнер ${name} ${ru}`), detail, restartTrouble };
  }

  private exitText(e: SeenExit): string {
    const oom = e.oomKilled ? this.tr(' (OOM-killed)', ' (убит по OOM)') : '';
    return this.tr(`exit code ${e.exitCode}${oom}`, `код выхода ${e.exitCode}${oom}`);
  }

  private assess(name: string, c: ContainerState): Verdict {
    const recent = this.restartsInWindow(name, c.restartCount);
    const windowMin = CRASH_LOOP_WINDOW_S / 60;
    const restarts = this.tr(
      `restarted ${c.restartCount} time(s)${recent > 0 ? `, ${recent} in the last ${windowMin} min` : ''}`,
      `перезапусков: ${c.restartCount}${recent > 0 ? `, за последние ${windowMin} мин: ${recent}` : ''}`,
    );
    const runningSince = `${this.tr('running since', 'запущен с')} ${this.since(c.startedAt)}`;
    if (c.status === 'running') return this.whileRunning(name, c, recent, runningSince, restarts);
    // Docker's own state says what is wrong; its exit code is valid here (the container is down).
    if (c.status === 'exited' || c.status === 'dead' || c.status === 'restarting') {
      this.exits.set(name, { exitCode: c.exitCode, oomKilled: c.oomKilled, finishedAt: c.finishedAt });
    }
    const exit = this.exitText(c);
    const engineError = c.error
      ? `; ${this.tr('engine error', 'ошибка Docker')}: ${truncate(redactSecrets(c.error), ENGINE_ERROR_MAX_CHARS)}`
      : '';
    const stopped = `${this.since(c.finishedAt)}; ${restarts}${engineError}`;
    const at = `${this.tr('at', 'в')} ${stopped}`;
    const never = this.tr('created, never started', 'создан, но не запущен');
    const verdicts = new Map<string, [Severity, string, string, string]>([
      ['dead', ['critical', 'is dead', 'мёртв (dead)', `dead, ${exit}, ${this.tr('since', 'с')} ${stopped}`]],
      ['exited', ['critical', 'has exited', 'остановлен', `exited, ${exit}, ${at}`]],
      ['restarting', ['critical', 'is restarting', 'перезапускается', `restarting, ${this.tr('last', 'последний')} ${exit} ${at}`]],
      ['paused', ['warning', 'is paused', 'приостановлен', `paused; ${runningSince}`]],
      ['created', ['warning', 'was never started', 'не запускался', `${never}${engineError}`]],
      ['removing', ['warning', 'is being removed', 'удаляется', 'removing']],
    ]);
    const other: [Severity, string, string, string] = [
      'warning',
      `is in state "${c.status}"`,
      `в состоянии "${c.status}"`,
      `${c.status}; ${restarts}`,
    ];
    const [severity, en, ru, detail] = verdicts.get(c.status) ?? other;
    return this.problem(name, severity, en, ru, detail, c.status === 'restarting');
  }

  /** Running: unhealthy, crash-looping (restarts in the window), or fine. */
  private whileRunning(name: string, c: ContainerState, recent: number, runningSince: string, restarts: string): Verdict {
    if (c.health?.status === 'unhealthy') {
      const check = c.health.lastCheck;
      const output = check ? truncate(redactSecrets(check.output.replace(/\s+/g, ' ').trim()), HEALTH_OUTPUT_MAX_CHARS) : '';
      const quoted = output ? `: "${output}"` : '';
      const lastCheck = check
        ? this.tr(
            `; last check at ${check.at ?? '-'} exited ${check.exitCode}${quoted}`,
            `; последняя проверка в ${check.at ?? '-'}, код ${check.exitCode}${quoted}`,
          )
        : '';
      const streak = c.health.failingStreak;
      const detail = this.tr(
        `unhealthy, ${streak} failed check(s) in a row${lastCheck}; ${runningSince}; ${restarts}`,
        `unhealthy, проверок подряд с ошибкой: ${streak}${lastCheck}; ${runningSince}; ${restarts}`,
      );
      return this.problem(name, 'critical', 'is unhealthy', 'нездоров (unhealthy)', detail);
    }
    // Once looping, any restart left in the window keeps it active, so sampling it between crashes cannot flap.
    if (recent >= CRASH_LOOP_RESTARTS || (recent > 0 && this.looping.has(name))) {
      const detail = `${restarts}; ${this.lastExitWhileRunning(this.exits.get(name), c.finishedAt)}; ${runningSince}`;
      return this.problem(name, 'critical', 'is crash-looping', 'падает и перезапускается по кругу', detail, true);
    }
    const health = c.health === null ? '' : `, ${c.health.status}`;
    return {
      active: false,
      severity: 'critical',
      title: this.tr(`Container ${name}`, `Контейнер ${name}`),
      detail: `running${health}; ${runningSince}; ${restarts}`,
    };
  }

  /** Docker zeroes the exit code on start, so only an exit seen while the container was down is quoted; "exit code 0" is never made up. */
  private lastExitWhileRunning(seen: SeenExit | undefined, finishedAt: string | null): string {
    if (seen?.finishedAt === finishedAt)
      return `${this.tr('last', 'последний')} ${this.exitText(seen)} ${this.tr('at', 'в')} ${this.since(finishedAt)}`;
    const lastStop = finishedAt === null ? '' : `${this.tr('last exited at', 'последний выход в')} ${this.since(finishedAt)}`;
    const earlier =
      seen === undefined
        ? this.tr('exit code not seen (Docker clears it on restart)', 'код выхода не замечен (Docker сбрасывает его при перезапуске)')
        : this.tr(
            `${this.exitText(seen)} when last seen down, at ${this.since(seen.finishedAt)}`,
            `${this.exitText(seen)} при последней замеченной остановке, в ${this.since(seen.finishedAt)}`,
          );
    return lastStop ? `${lastStop}, ${earlier}` : earlier;
  }
}
