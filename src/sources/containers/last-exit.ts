import { t, type Locale } from '../../i18n.js';

/** An exit as Docker reported it while the container was down; a start zeroes `State.ExitCode`. */
export interface SeenExit {
  exitCode: number;
  oomKilled: boolean;
  finishedAt: string | null;
}

export const exitText = (e: SeenExit, locale: Locale): string =>
  t(locale, {
    en: `exit code ${e.exitCode}${e.oomKilled ? ' (OOM-killed)' : ''}`,
    ru: `код выхода ${e.exitCode}${e.oomKilled ? ' (убит по OOM)' : ''}`,
  });

/** Docker zeroes the exit code on start, so only an exit seen while the container was down is quoted; "exit code 0" is never made up. */
export function lastExitWhileRunning(
  seen: SeenExit | undefined,
  finishedAt: string | null,
  locale: Locale,
  since: (iso: string | null) => string,
): string {
  if (seen?.finishedAt === finishedAt) {
    return `${t(locale, { en: 'last', ru: 'последний' })} ${exitText(seen, locale)} ${t(locale, { en: 'at', ru: 'в' })} ${since(finishedAt)}`;
  }
  const lastStop = finishedAt === null ? '' : `${t(locale, { en: 'last exited at', ru: 'последний выход в' })} ${since(finishedAt)}`;
  const earlier =
    seen === undefined
      ? t(locale, {
          en: 'exit code not seen (Docker clears it on restart)',
          ru: 'код выхода не замечен (Docker сбрасывает его при перезапуске)',
        })
      : t(locale, {
          en: `${exitText(seen, locale)} when last seen down, at ${since(seen.finishedAt)}`,
          ru: `${exitText(seen, locale)} при последней замеченной остановке, в ${since(seen.finishedAt)}`,
        });
  return lastStop ? `${lastStop}, ${earlier}` : earlier;
}
