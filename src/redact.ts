import { isSecretFlag, isSpace, NAME_RULES, REDACTED, type Meter } from './redact/scan.js';
import { CURL_USER_FLAGS, SHAPE_RULES } from './redact/shapes.js';

// Secrets become `***`, names stay; over-redaction is preferred to a leak. Every rule is a hand-written linear
// scan: the equivalent regular expression is quadratic in a run of letters (15,000 letters in a URL: 0.55 s).

export { REDACTED };

/** Shorter configured values are not hidden by value: "42" would be cut out of every number. */
const MIN_SECRET_VALUE_CHARS = 4;
/** Longest first, so a secret that contains another is hidden whole. */
let secretValues: string[] = [];

/** Configured secrets, hidden by value wherever they appear. Process-wide and only ever added to. */
export function registerSecretValues(values: Iterable<string>): void {
  const all = new Set(secretValues);
  for (const value of values) {
    for (const form of [value, encodeURIComponent(value)]) if (form.length >= MIN_SECRET_VALUE_CHARS) all.add(form);
  }
  secretValues = [...all].sort((a, b) => b.length - a.length);
}

/** Returns `text` with every recognised secret replaced by `***`. Idempotent. */
export function redactSecrets(text: string): string {
  return measureRedaction(text).text;
}

/** The redaction and the characters its scans looked at: a deterministic measure of its cost (tests, bench). */
export function measureRedaction(text: string): { text: string; steps: number } {
  const meter: Meter = { steps: 0 };
  let out = text;
  for (const value of secretValues) {
    meter.steps += out.length;
    if (out.includes(value)) out = out.split(value).join(REDACTED);
  }
  // by shape and place, then by name
  for (const rule of [...SHAPE_RULES, ...NAME_RULES]) out = rule(out, meter);
  return { text: out, steps: meter.steps };
}

/** Redacts each element first (so `--password "two words"` hides both words), then the joined line. */
export function redactArgv(argv: readonly string[]): string {
  const programs = new Set<string>();
  const masked = argv.map((arg, i) => {
    const prev = argv[i - 1];
    programs.add(arg.slice(arg.lastIndexOf('/') + 1));
    if (prev === undefined) return arg;
    if (!prev.includes('=') && isSecretFlag(prev) && !arg.startsWith('--')) return REDACTED;
    if ((prev === '-p' && programs.has('sshpass')) || (prev === '-k' && programs.has('openssl'))) return REDACTED;
    // curl -u 'user:pass with spaces': joining would split the value
    if (CURL_USER_FLAGS.includes(prev) && arg.includes(':') && !arg.includes('://')) return `${arg.slice(0, arg.indexOf(':'))}:${REDACTED}`;
    return arg;
  });
  return redactSecrets(masked.join(' '));
}

/** At most `maxChars`, cut back to a blank: a half secret (`https://u:pa`) is one no rule recognises. */
export function boundForRedaction(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const head = text.slice(0, maxChars + 1);
  let cut = maxChars;
  while (cut > 0 && !isSpace(head.charCodeAt(cut))) cut -= 1;
  return `${text.slice(0, cut)}…`;
}

/** Command lines are redacted from their first 4 KiB (the /proc scan reads no more), then cut to what is shown. */
const COMMAND_LINE_REDACT_CHARS = 4096;

/** An argv as shown: joined, bounded before redaction, redacted, cut to `maxChars`. */
export function redactCommandLine(argv: readonly string[], maxChars: number): string {
  const kept: string[] = [];
  let room = COMMAND_LINE_REDACT_CHARS;
  for (const arg of argv) {
    if (arg.length + 1 > room) {
      // the element the bound cuts: its whole words only
      kept.push(boundForRedaction(arg, Math.max(0, room - 1)));
      break;
    }
    kept.push(arg);
    room -= arg.length + 1;
  }
  return truncate(redactArgv(kept), maxChars);
}

/** The longest head whose `render`ing fits `maxChars`: never half a surrogate pair or an escape. Redact first. */
export function truncate(text: string, maxChars: number, render: (s: string) => string = (s) => s): string {
  if (render(text).length <= maxChars) return text;
  const room = maxChars - 1;
  let used = 0;
  let end = 0;
  for (const ch of text) {
    const size = render(ch).length;
    if (used + size > room) break;
    used += size;
    end += ch.length;
  }
  return room < 0 ? '' : `${text.slice(0, end)}…`;
}
