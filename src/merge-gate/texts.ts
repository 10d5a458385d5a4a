import { formatDuration, t, type Locale } from '../i18n.js';
import { makeSignal, type Signal } from '../watchdog/signal.js';
import type { LockHolder, Outcome, RetestRun } from './types.js';

const OUTCOME_WORDS: Record<Locale, Partial<Record<Outcome, [string, string]>>> = {
  en: { timeout: ['timeout', 'timeouts'], lock_busy: ['busy lock', 'busy locks'], infra: ['infra failure', 'infra failures'] },
  ru: {
    timeout: ['тайм-аут', 'тайм-аутов'],
    lock_busy: ['занятая блокировка', 'занятых блокировок'],
    infra: ['сбой инфраструктуры', 'сбоев инфраструктуры'],
  },
};

/** "3 timeouts, 1 busy lock" over the attempts of one chain. */
export function outcomeTally(chain: readonly RetestRun[], locale: Locale): string {
  const counts = new Map<Outcome, number>();
  for (const run of chain) if (run.outcome) counts.set(run.outcome, (counts.get(run.outcome) ?? 0) + 1);
  return [...counts]
    .map(([outcome, n]) => {
      const words = OUTCOME_WORDS[locale][outcome];
      return `${n} ${words ? words[n === 1 ? 0 : 1] : outcome}`;
    })
    .join(', ');
}

/** Wall-time-weighted share of the chain stalled on CPU (0..1), or null without PSI. */
export function chainCpuStalledShare(chain: readonly RetestRun[]): number | null {
  let stalled = 0;
  let wall = 0;
  for (const run of chain) {
    const share = run.pressure?.cpuStalledShare;
    if (share === null || share === undefined || !run.durationS) continue;
    stalled += share * run.durationS;
    wall += run.durationS;
  }
  return wall > 0 ? stalled / wall : null;
}

function holdersText(holders: readonly LockHolder[], locale: Locale): string {
  if (holders.length === 0) return '';
  const shown = holders
    .slice(0, 5)
    .map((h) => `${h.pid} (${h.cmdline}, ${formatDuration(h.ageS, locale)}${h.knownAs ? `, ${h.knownAs}` : ''})`);
  const pids = holders.map((h) => h.pid).join(' ');
  const known = holders.filter((h) => h.knownAs !== null).map((h) => h.pid);
  const stop = known.length > 0 ? `POST /proc/candidates/${known[0]}/terminate, ` : '';
  return t(locale, {
    en: ` Lock held by ${shown.join('; ')}. Stop them: ${stop}kill ${pids}`,
    ru: ` Блокировку держат ${shown.join('; ')}. Остановить: ${stop}kill ${pids}`,
  });
}

/** The one merge_gate_exhausted alert of a chain: what kept failing, under what pressure, and who held the lock. */
export function exhaustedSignal(chain: readonly RetestRun[], retryMax: number, locale: Locale): Signal {
  const last = chain.at(-1)!;
  const where = `${last.repo}@${last.branch}`;
  const share = chainCpuStalledShare(chain);
  const stalled =
    share === null
      ? ''
      : t(locale, {
          en: `; CPU stalled ${Math.round(share * 100)}% of the time`,
          ru: `; CPU простаивал в ожидании ${Math.round(share * 100)}% времени`,
        });
  const holders = [...chain].reverse().find((r) => r.lockHolders && r.lockHolders.length > 0)?.lockHolders ?? [];
  const tally = outcomeTally(chain, locale);
  return makeSignal({
    family: 'merge_gate_exhausted',
    entity: where,
    active: true,
    severity: 'critical',
    title: t(locale, { en: 'Merge gate gave up on a branch', ru: 'Merge gate сдался на ветке' }),
    detail:
      t(locale, {
        en: `${where}: ${tally}${stalled} — ${retryMax} infra re-queue(s) spent (attempt ${last.attempt}, run ${last.id}); the branch was neither merged nor rolled back: check the CI host (CPU, locks).`,
        ru: `${where}: ${tally}${stalled} — исчерпано повторов из-за инфраструктуры: ${retryMax} (попытка ${last.attempt}, запуск ${last.id}); ветка не влита и не откачена: проверьте CI-хост (CPU, блокировки).`,
      }) + holdersText(holders, locale),
  });
}
