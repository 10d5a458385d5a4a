import { t, type Locale } from '../../i18n.js';
import { makeSignal, type Signal } from '../../watchdog/signal.js';

export interface MemInfo {
  totalKb: number;
  availableKb: number;
}

/** Parses `/proc/meminfo`; null when MemTotal or MemAvailable is missing or not a number. */
export function parseMeminfo(text: string): MemInfo | null {
  const field = (name: string): number | null => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    return m?.[1] === undefined ? null : Number(m[1]);
  };
  const totalKb = field('MemTotal');
  const availableKb = field('MemAvailable');
  if (totalKb === null || availableKb === null || totalKb <= 0) return null;
  return { totalKb, availableKb };
}

const gib = (kb: number): string => (kb / 1024 / 1024).toFixed(1);

export function memorySignal(mem: MemInfo, critPct: number, locale: Locale): Signal {
  const usedPct = (1 - mem.availableKb / mem.totalKb) * 100;
  return makeSignal({
    family: 'host_mem',
    entity: null,
    active: usedPct >= critPct,
    severity: 'critical',
    title: t(locale, { en: 'Host memory is nearly exhausted', ru: 'Память хоста почти исчерпана' }),
    detail: t(locale, {
      en: `${usedPct.toFixed(1)}% used (${gib(mem.totalKb - mem.availableKb)} of ${gib(mem.totalKb)} GiB), threshold ${critPct}%`,
      ru: `занято ${usedPct.toFixed(1)}% (${gib(mem.totalKb - mem.availableKb)} из ${gib(mem.totalKb)} ГиБ), порог ${critPct}%`,
    }),
  });
}

export interface DiskUsage {
  usedBytes: number;
  /** Bytes available to unprivileged users. */
  availBytes: number;
}

/** Used % the way df computes it: used / (used + available to non-root). */
export function diskUsedPct(d: DiskUsage): number {
  const denom = d.usedBytes + d.availBytes;
  return denom === 0 ? 0 : (d.usedBytes / denom) * 100;
}

export function diskSignal(path: string, usage: DiskUsage | { error: string }, critPct: number, locale: Locale): Signal {
  if ('error' in usage) {
    return makeSignal({
      family: 'disk_crit',
      entity: path,
      active: true,
      severity: 'warning',
      title: t(locale, { en: `Disk ${path} cannot be checked`, ru: `Диск ${path} не удаётся проверить` }),
      detail: usage.error,
    });
  }
  const pct = diskUsedPct(usage);
  return makeSignal({
    family: 'disk_crit',
    entity: path,
    active: pct >= critPct,
    severity: 'critical',
    title: t(locale, { en: `Disk ${path} is nearly full`, ru: `Диск ${path} почти заполнен` }),
    detail: t(locale, {
      en: `${pct.toFixed(1)}% used, ${(usage.availBytes / 1024 ** 3).toFixed(1)} GiB free, threshold ${critPct}%`,
      ru: `занято ${pct.toFixed(1)}%, свободно ${(usage.availBytes / 1024 ** 3).toFixed(1)} ГиБ, порог ${critPct}%`,
    }),
  });
}
