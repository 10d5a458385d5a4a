export const LOCALES = ['en', 'ru'] as const;
export type Locale = (typeof LOCALES)[number];

/** Picks the text of the configured locale; every user-facing string carries both. */
export function t(locale: Locale, texts: Record<Locale, string>): string {
  return texts[locale];
}

export function translator(locale: Locale): (en: string, ru: string) => string {
  return (en, ru) => t(locale, { en, ru });
}

/** "2 h 14 min", "3 min", "45 s" — ages an operator reads at a glance. */
export function formatDuration(seconds: number, locale: Locale): string {
  const s = Math.max(0, Math.floor(seconds));
  const u = locale === 'ru' ? { d: 'д', h: 'ч', m: 'мин', s: 'с' } : { d: 'd', h: 'h', m: 'min', s: 's' };
  const days = Math.floor(s / 86_400);
  const hours = Math.floor((s % 86_400) / 3_600);
  const minutes = Math.floor((s % 3_600) / 60);
  if (days > 0) return `${days} ${u.d} ${hours} ${u.h}`;
  if (hours > 0) return `${hours} ${u.h} ${minutes} ${u.m}`;
  if (minutes > 0) return `${minutes} ${u.m}`;
  return `${s} ${u.s}`;
}
