import { REDACTED } from '../redact.js';
import type { ConfigWarning } from './checks.js';

/** docker-compose.yml's publish address: compose reads it from .env, and `env_file: .env` hands it to the container too. */
const COMPOSE_KEYS = ['WATCHDOG_PUBLISH'];

/** Edit distance with adjacent transpositions (TIKC → TICK is one edit). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known key nearest to `key`, when it is near enough to be a typo of it. */
export function closestKey(key: string, known: readonly string[]): string | null {
  const upper = key.toUpperCase();
  let best: { key: string; distance: number } | null = null;
  for (const k of known) {
    const distance = editDistance(upper, k);
    if (best === null || distance < best.distance) best = { key: k, distance };
  }
  return best !== null && best.distance <= 3 ? best.key : null;
}

/** WATCHDOG_* variables that are no key (a silent misspelling otherwise); the value is never shown: it may be a secret. */
export function unknownKeyWarnings(env: NodeJS.ProcessEnv, known: readonly string[]): ConfigWarning[] {
  const isKnown = new Set([...known, ...COMPOSE_KEYS]);
  return Object.keys(env)
    .filter((name) => name.toUpperCase().startsWith('WATCHDOG_') && !isKnown.has(name))
    .sort()
    .map((name) => {
      const near = closestKey(name, known);
      return {
        key: name,
        value: REDACTED,
        message: near
          ? `is not a known key; did you mean ${near}? (it is ignored)`
          : 'is not a known key; it is ignored (see .env.example)',
      };
    });
}
