import { t, type Locale } from '../../i18n.js';
import { redactSecrets } from '../../redact.js';
import { makeSignal, type Signal } from '../../watchdog/signal.js';

/** One GET of a dependency: up (2xx/3xx), or down with the reason an operator acts on. */
export type PingOutcome = { ok: true; status: number; latencyMs: number } | { ok: false; reason: string; latencyMs: number };

const ms = (latencyMs: number): string => `${Math.round(latencyMs)} ms`;

/** Pure: active after WATCHDOG_DEP_DOWN_AFTER consecutive failed pings, so one lost packet is not a page. */
export class DepSignals {
  private readonly failures = new Map<string, number>();

  constructor(private readonly s: { downAfter: number; locale: Locale }) {}

  next(dep: { name: string; url: string }, outcome: PingOutcome): Signal {
    const failures = outcome.ok ? 0 : (this.failures.get(dep.name) ?? 0) + 1;
    this.failures.set(dep.name, failures);
    const { locale, downAfter } = this.s;
    const url = redactSecrets(dep.url);
    const active = failures >= downAfter;
    const detail = outcome.ok
      ? t(locale, {
          en: `GET ${url}: HTTP ${outcome.status} in ${ms(outcome.latencyMs)}`,
          ru: `GET ${url}: HTTP ${outcome.status} за ${ms(outcome.latencyMs)}`,
        })
      : t(locale, {
          en: `GET ${url}: ${outcome.reason} after ${ms(outcome.latencyMs)}; ${failures} consecutive failure(s), down after ${downAfter}`,
          ru: `GET ${url}: ${outcome.reason} через ${ms(outcome.latencyMs)}; неудач подряд: ${failures}, порог ${downAfter}`,
        });
    return makeSignal({
      family: 'dep_down',
      entity: dep.name,
      active,
      severity: 'critical',
      title: t(locale, { en: `Dependency ${dep.name} is down`, ru: `Зависимость ${dep.name} недоступна` }),
      detail,
    });
  }
}
