// The primitives of the redaction rules, and the rules by name. Each primitive reports what it looked at to a
// Meter, so a test proves the work linear without a clock.

/** Characters looked at; a redaction of n characters stays under a constant times n. */
export interface Meter {
  steps: number;
}

export const REDACTED = '***';

export type CharTest = (code: number) => boolean;

/** JavaScript's `\s`. A NaN code (past the end) is no class's member. */
const WIDE_SPACES = new Set([0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff]);
export const isSpace: CharTest = (c) =>
  c === 32 || (c >= 9 && c <= 13) || (c > 127 && ((c >= 0x2000 && c <= 0x200a) || WIDE_SPACES.has(c)));
export const isLetter: CharTest = (c) => (c | 32) >= 97 && (c | 32) <= 122;
export const isDigit: CharTest = (c) => c >= 48 && c <= 57;
export const isAlnum: CharTest = (c) => isLetter(c) || isDigit(c);
/** `\w` */
export const isWord: CharTest = (c) => isAlnum(c) || c === 95;
/** `[\w.-]`: the tail of a name or a flag */
const isNameChar: CharTest = (c) => isWord(c) || c === 46 || c === 45;
/** `[A-Za-z_]`: the head of a name */
const isNameStart: CharTest = (c) => isLetter(c) || c === 95;
/** `\S` */
export const isNonSpace: CharTest = (c) => c >= 0 && !isSpace(c);
/** `[A-Za-z0-9_-]`: base64url, key and bot-token characters */
export const isKeyChar: CharTest = (c) => isWord(c) || c === 45;

export const code = (text: string, i: number): number => text.charCodeAt(i);
export const isQuote = (c: number): boolean => c === 34 || c === 39;

/** The end of the run of `test` characters starting at `from` (`from` itself when there is none). */
export function runEnd(text: string, from: number, test: CharTest, meter: Meter): number {
  let j = from;
  while (test(text.charCodeAt(j))) j += 1;
  meter.steps += j - from + 1;
  return j;
}

/** The start of the run of `test` characters that ends at `end`, never below `floor`. */
export function runStart(text: string, end: number, floor: number, test: CharTest, meter: Meter): number {
  let j = end;
  while (j > floor && test(text.charCodeAt(j - 1))) j -= 1;
  meter.steps += end - j + 1;
  return j;
}

/** `literal` at `at`, letters compared case-insensitively (ASCII only, as the `i` flag does without `u`). */
export function startsWithCaseless(text: string, at: number, literal: string): boolean {
  if (at < 0 || at + literal.length > text.length) return false;
  for (let k = 0; k < literal.length; k += 1) {
    const want = literal.charCodeAt(k);
    const got = text.charCodeAt(at + k);
    if (isLetter(want) ? (got | 32) !== want || !isLetter(got) : got !== want) return false;
  }
  return true;
}

/** Index of `literal` at or after `from`, or -1; what the search passes over is counted. */
export function find(text: string, literal: string, from: number, meter: Meter): number {
  const at = text.indexOf(literal, from);
  meter.steps += (at < 0 ? text.length : at) - from + 1;
  return at;
}

/** `"[^"]*"|'[^']*'` (a JSON string with escapes when `json`), else a run of `bare`: the end of the value, or -1 when there is none. */
export function valueEnd(text: string, at: number, meter: Meter, bare: CharTest = isNonSpace, json = false): number {
  const c = code(text, at);
  const close = json && c === 34 ? jsonStringClose(text, at, meter) : isQuote(c) ? find(text, String.fromCharCode(c), at + 1, meter) : -1;
  if (close >= 0) return close + 1;
  const end = runEnd(text, at, bare, meter);
  return end > at ? end : -1;
}

/** The closing quote of the JSON string opened at `open` (an escape never takes a line break), or -1. */
function jsonStringClose(text: string, open: number, meter: Meter): number {
  let j = open + 1;
  for (let c = code(text, j); c >= 0 && c !== 34; c = code(text, j)) {
    const next = code(text, j + 1);
    if (c === 92 && (!(next >= 0) || next === 10 || next === 13 || next === 0x2028 || next === 0x2029)) break;
    j += c === 92 ? 2 : 1;
  }
  meter.steps += j - open + 1;
  return code(text, j) === 34 ? j : -1;
}

/** Tries a rule at a trigger; returns where the search resumes, or -1 for "after the trigger". `floor` is the regex's lastIndex. */
type TriggerRule = (text: string, trigger: number, floor: number, out: Rewriter, meter: Meter, found: string) => number;
interface Rewriter {
  replace(from: number, to: number, replacement: string): void;
}

/** A rule as one left-to-right pass from one `trigger` match (bounded-length alternatives: linear) to the next, never back before `floor`. */
export function scanTriggers(trigger: RegExp, at: TriggerRule): (text: string, meter: Meter) => string {
  return (text, meter) => {
    // the rule's output: unchanged stretches are copied once, replacements spliced in
    const parts: string[] = [];
    let copied = 0;
    const out: Rewriter = {
      replace(from, to, replacement) {
        parts.push(text.slice(copied, from), replacement);
        copied = to;
      },
    };
    let floor = 0;
    for (let from = 0; ;) {
      trigger.lastIndex = from;
      const found = trigger.exec(text);
      meter.steps += (found === null ? text.length : found.index) - from + 1;
      if (found === null) break;
      const resume = at(text, found.index, floor, out, meter, found[0]);
      if (resume > found.index) floor = resume;
      from = resume > found.index ? resume : found.index + 1;
    }
    return parts.length === 0 ? text : parts.join('') + text.slice(copied);
  };
}

/** Words that make a name a secret's name (`--db-password`, `GH_TOKEN`, `client_secret`, `apiKey`, `sig`, `cookie`). */
const SECRET_NAME =
  /tokens?(?![a-z])|secret|passw(?:or)?d|passphrase|(?<![a-z])(?:api|access|secret|private|signing|master|auth)?[-_]?keys?(?![a-z])|auth(?!or)|credentials?|(?<![a-z])sig(?![a-z])|signature|cookie|(?<![a-z])dsn(?![a-z])/i;
/** Flags also accept `--pass` / `-pwd` / `--pw`, which would over-match as plain words in `NAME=` form. */
const SECRET_FLAG = new RegExp(`${SECRET_NAME.source}|(?<![a-z])pass(?![a-z])|(?<![a-z])pwd?(?![a-z])`, 'i');
/** `DB_PASS`, `MYSQL_PWD`, `redis.pw` — a short password word after a separator (plain `PWD=` is the working directory). */
const SECRET_NAME_SUFFIX = /[_.-](?:pass|pwd|pw)(?![a-z])/i;

// Each alternative above has a bounded length, so a test costs time linear in the name.
export function isSecretName(name: string, meter: Meter, authorizationToo = true): boolean {
  meter.steps += name.length;
  return (SECRET_NAME.test(name) || SECRET_NAME_SUFFIX.test(name)) && (authorizationToo || name.toLowerCase() !== 'authorization');
}

/** `--password`, `-token`: a dash, a letter, and a secret's name. */
export function isSecretFlag(flag: string, meter: Meter = { steps: 0 }): boolean {
  meter.steps += flag.length;
  return /^--?[A-Za-z]/.test(flag) && SECRET_FLAG.test(flag.replace(/^--?/, ''));
}

/** Keeps surrounding quotes so the shape of the command line survives. */
export function mask(value: string): string {
  const quote = value[0];
  if (value.length >= 2 && (quote === '"' || quote === "'") && value.endsWith(quote)) return `${quote}${REDACTED}${quote}`;
  return REDACTED;
}

// Secrets by the name beside them: flags, query parameters, NAME=value, JSON and YAML keys. A match that is
// not a secret is still consumed, as a global regex replace would.

/** `--?[A-Za-z][\w.-]*` starting a word at `i`: the flag's end, or -1. */
function flagEnd(text: string, i: number, meter: Meter): number {
  if (isNonSpace(code(text, i - 1))) return -1;
  let at = i + 1;
  if (code(text, at) === 45 && isLetter(code(text, at + 1))) at += 1;
  if (!isLetter(code(text, at))) return -1;
  return runEnd(text, at + 1, isNameChar, meter);
}

/** `--password=xxx` (`equals`), `--password xxx` (else): the next word is the value unless it is itself a long flag. */
const flagValue = (equals: boolean) =>
  scanTriggers(/-/g, (text, i, _floor, out, meter) => {
    const nameEnd = flagEnd(text, i, meter);
    if (nameEnd < 0) return -1;
    const valueStart = equals ? nameEnd + 1 : runEnd(text, nameEnd, isSpace, meter);
    if (equals ? code(text, nameEnd) !== 61 : valueStart === nameEnd || text.startsWith('--', valueStart)) return -1;
    const end = valueEnd(text, valueStart, meter);
    if (end < 0) return -1;
    const flag = text.slice(i, nameEnd);
    if (isSecretFlag(flag, meter)) out.replace(i, end, `${text.slice(i, valueStart)}${mask(text.slice(valueStart, end))}`);
    return end;
  });

const isQueryValueChar: CharTest = (c) => isNonSpace(c) && c !== 38 && c !== 35 && !isQuote(c);

/** ?access_token=xxx&… (a query value ends at & or #) */
const queryParameters = scanTriggers(/[?&;]/g, (text, i, _floor, out, meter) => {
  if (!isNameStart(code(text, i + 1))) return -1;
  const nameEnd = runEnd(text, i + 2, isNameChar, meter);
  if (code(text, nameEnd) !== 61) return -1;
  const end = runEnd(text, nameEnd + 1, isQueryValueChar, meter);
  const name = text.slice(i + 1, nameEnd);
  if (isSecretName(name, meter)) out.replace(i + 1, end, `${name}=${REDACTED}`);
  return end;
});

/** The name ending at `end` (an `=` or `:`) after one of `separators` no earlier match consumed, or -1. */
function nameBefore(text: string, end: number, floor: number, separators: CharTest, meter: Meter): number {
  const start = runStart(text, end, floor, isNameChar, meter);
  if (start === end || !isNameStart(code(text, start))) return -1;
  return start === 0 || (start - 1 >= floor && separators(code(text, start - 1))) ? start : -1;
}

const isBareValueChar: CharTest = (c) => isNonSpace(c) && c !== 44 && c !== 59 && c !== 125 && c !== 93;

/** "password": "xxx" (JSON) in health-check output; `"authorization"` is the Authorization rule's. */
const quotedKeys = scanTriggers(/:/g, (text, colon, floor, out, meter) => {
  const close = runStart(text, colon, floor, isSpace, meter) - 1;
  const quote = code(text, close);
  if (close < floor || !isQuote(quote)) return -1;
  const nameStart = runStart(text, close, floor, isNameChar, meter);
  const i = nameStart - 1;
  if (nameStart === close || !isNameStart(code(text, nameStart)) || i < floor || code(text, i) !== quote) return -1;
  const valueStart = runEnd(text, colon + 1, isSpace, meter);
  const end = valueEnd(text, valueStart, meter, isBareValueChar, true);
  if (end < 0) return -1;
  const name = text.slice(nameStart, close);
  if (isSecretName(name, meter, false)) out.replace(i, end, `${text.slice(i, valueStart)}${mask(text.slice(valueStart, end))}`);
  return end;
});

const isAssignmentSeparator: CharTest = (c) => isSpace(c) || c === 44 || c === 123 || c === 40 || c === 91;
const isYamlSeparator: CharTest = (c) => isSpace(c) || c === 44 || c === 123;

/** `NAME=value` (env assignments, key=value output), or with `yaml` `token: xxx`, whose value ends at `,;}]`. */
const namedValue = (yaml: boolean) =>
  scanTriggers(yaml ? /:/g : /=/g, (text, at, floor, out, meter) => {
    const i = nameBefore(text, at, floor, yaml ? isYamlSeparator : isAssignmentSeparator, meter);
    if (i < 0) return -1;
    const valueStart = yaml ? runEnd(text, at + 1, (c) => c === 32 || c === 9, meter) : at + 1;
    if (valueStart === at + 1 && yaml) return -1;
    const end = valueEnd(text, valueStart, meter, yaml ? isBareValueChar : isNonSpace);
    if (end < 0) return -1;
    const name = text.slice(i, at);
    if (isSecretName(name, meter, !yaml)) out.replace(i, end, `${text.slice(i, valueStart)}${mask(text.slice(valueStart, end))}`);
    return end;
  });

export const NAME_RULES = [flagValue(true), flagValue(false), queryParameters, namedValue(false), quotedKeys, namedValue(true)];
