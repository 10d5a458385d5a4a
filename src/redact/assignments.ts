import { isSecretFlag, isSecretName, mask, REDACTED } from './names.js';
import type { Rule } from './rule.js';
import {
  code,
  find,
  nextLiteral,
  nextMatch,
  scanTriggers,
  isLetter,
  isNameChar,
  isNameStart,
  isSpace,
  quotedOrWordEnd,
  runEnd,
  runStart,
  type CharTest,
  type Meter,
} from './scan.js';

// A match that is not a secret is still consumed, as a global regex replace would.

/** `--?[A-Za-z][\w.-]*` at `i`: the flag's end, or -1. */
function flagEnd(text: string, i: number, meter: Meter): number {
  if (code(text, i) !== 45) return -1;
  let at = i + 1;
  if (code(text, at) === 45 && isLetter(code(text, at + 1))) at += 1;
  if (!isLetter(code(text, at))) return -1;
  return runEnd(text, at + 1, isNameChar, meter);
}

const wordStart = (text: string, i: number): boolean => i === 0 || isSpace(code(text, i - 1));

function secretFlag(flag: string, meter: Meter): boolean {
  meter.steps += flag.length;
  return isSecretFlag(flag);
}

function secretName(name: string, meter: Meter, authorizationToo = true): boolean {
  meter.steps += name.length;
  return isSecretName(name) && (authorizationToo || name.toLowerCase() !== 'authorization');
}

const nextDash = nextLiteral('-');

/** --password=xxx, -token=xxx */
const flagEquals = scanTriggers(nextDash, (text, i, _floor, out, meter) => {
  if (!wordStart(text, i)) return -1;
  const nameEnd = flagEnd(text, i, meter);
  if (nameEnd < 0 || code(text, nameEnd) !== 61) return -1;
  const end = quotedOrWordEnd(text, nameEnd + 1, meter);
  if (end < 0) return -1;
  const flag = text.slice(i, nameEnd);
  if (secretFlag(flag, meter)) out.replace(i, end, `${flag}=${mask(text.slice(nameEnd + 1, end))}`);
  return end;
});

/** --password xxx: the next word is the value unless it is itself a long flag. */
const flagSpace = scanTriggers(nextDash, (text, i, _floor, out, meter) => {
  if (!wordStart(text, i)) return -1;
  const nameEnd = flagEnd(text, i, meter);
  if (nameEnd < 0) return -1;
  const valueStart = runEnd(text, nameEnd, isSpace, meter);
  if (valueStart === nameEnd || text.startsWith('--', valueStart)) return -1;
  const end = quotedOrWordEnd(text, valueStart, meter);
  if (end < 0) return -1;
  const flag = text.slice(i, nameEnd);
  if (secretFlag(flag, meter)) out.replace(i, end, `${text.slice(i, valueStart)}${mask(text.slice(valueStart, end))}`);
  return end;
});

const isQueryValueChar: CharTest = (c) => c >= 0 && !isSpace(c) && c !== 38 && c !== 35 && c !== 34 && c !== 39;
const QUERY_SEPARATOR = /[?&;]/g;

/** ?access_token=xxx&… (a query value ends at & or #) */
const queryParameters = scanTriggers(nextMatch(QUERY_SEPARATOR), (text, i, _floor, out, meter) => {
  if (!isNameStart(code(text, i + 1))) return -1;
  const nameEnd = runEnd(text, i + 2, isNameChar, meter);
  if (code(text, nameEnd) !== 61) return -1;
  const end = runEnd(text, nameEnd + 1, isQueryValueChar, meter);
  const name = text.slice(i + 1, nameEnd);
  if (secretName(name, meter)) out.replace(i + 1, end, `${name}=${REDACTED}`);
  return end;
});

/** The name ending at `end` (an `=` or `:`) after one of `separators` no earlier match consumed, or -1. */
function nameBefore(text: string, end: number, floor: number, separators: CharTest, meter: Meter): number {
  const start = runStart(text, end, floor, isNameChar, meter);
  if (start === end || !isNameStart(code(text, start))) return -1;
  return start === 0 || (start - 1 >= floor && separators(code(text, start - 1))) ? start : -1;
}

const isAssignmentSeparator: CharTest = (c) => isSpace(c) || c === 44 || c === 123 || c === 40 || c === 91;

/** NAME=value (env assignments, key=value output) */
const assignments = scanTriggers(nextLiteral('='), (text, equals, floor, out, meter) => {
  const i = nameBefore(text, equals, floor, isAssignmentSeparator, meter);
  if (i < 0) return -1;
  const end = quotedOrWordEnd(text, equals + 1, meter);
  if (end < 0) return -1;
  const name = text.slice(i, equals);
  if (secretName(name, meter)) out.replace(i, end, `${name}=${mask(text.slice(equals + 1, end))}`);
  return end;
});

const isBareValueChar: CharTest = (c) => c >= 0 && !isSpace(c) && c !== 44 && c !== 59 && c !== 125 && c !== 93;

/** `"…"` with JSON escapes (an escape never takes a line break): the end after the closing quote, or -1. */
function jsonStringEnd(text: string, open: number, meter: Meter): number {
  let j = open + 1;
  for (;;) {
    const c = code(text, j);
    if (!(c >= 0)) break;
    if (c === 34) {
      meter.steps += j - open + 1;
      return j + 1;
    }
    if (c === 92) {
      const next = code(text, j + 1);
      if (!(next >= 0) || next === 10 || next === 13 || next === 0x2028 || next === 0x2029) break;
      j += 2;
    } else j += 1;
  }
  meter.steps += j - open + 1;
  return -1;
}

/** `"…"`, `'…'` (JSON strings with escapes when `json`), else a bare word up to `,;}]`. */
function mappingValueEnd(text: string, at: number, json: boolean, meter: Meter): number {
  const c = code(text, at);
  const quoted =
    c === 34 && json ? jsonStringEnd(text, at, meter) : c === 34 || c === 39 ? find(text, c === 34 ? '"' : "'", at + 1, meter) : -1;
  if (quoted >= 0) return json && c === 34 ? quoted : quoted + 1;
  const end = runEnd(text, at, isBareValueChar, meter);
  return end > at ? end : -1;
}

const nextColon = nextLiteral(':');

/** "password": "xxx" (JSON) in health-check output; `"authorization"` is the Authorization rule's. */
const quotedKeys = scanTriggers(nextColon, (text, colon, floor, out, meter) => {
  const close = runStart(text, colon, floor, isSpace, meter) - 1;
  const quote = code(text, close);
  if (close < floor || (quote !== 34 && quote !== 39)) return -1;
  const nameStart = runStart(text, close, floor, isNameChar, meter);
  const i = nameStart - 1;
  if (nameStart === close || !isNameStart(code(text, nameStart)) || i < floor || code(text, i) !== quote) return -1;
  const valueStart = runEnd(text, colon + 1, isSpace, meter);
  const end = mappingValueEnd(text, valueStart, true, meter);
  if (end < 0) return -1;
  const name = text.slice(nameStart, close);
  if (secretName(name, meter, false)) out.replace(i, end, `${text.slice(i, valueStart)}${mask(text.slice(valueStart, end))}`);
  return end;
});

const isBlank: CharTest = (c) => c === 32 || c === 9;
const isYamlSeparator: CharTest = (c) => isSpace(c) || c === 44 || c === 123;

/** `token: xxx` (YAML-ish) */
const yamlKeys = scanTriggers(nextColon, (text, colon, floor, out, meter) => {
  const i = nameBefore(text, colon, floor, isYamlSeparator, meter);
  if (i < 0) return -1;
  const valueStart = runEnd(text, colon + 1, isBlank, meter);
  if (valueStart === colon + 1) return -1;
  const end = mappingValueEnd(text, valueStart, false, meter);
  if (end < 0) return -1;
  const name = text.slice(i, colon);
  if (secretName(name, meter, false)) out.replace(i, end, `${text.slice(i, valueStart)}${mask(text.slice(valueStart, end))}`);
  return end;
});

export const FLAG_EQUALS: Rule = { mayApply: (t) => t.includes('-'), apply: flagEquals };
export const FLAG_SPACE: Rule = { mayApply: (t) => t.includes('-'), apply: flagSpace };
export const QUERY_PARAMETERS: Rule = { mayApply: (t) => t.includes('='), apply: queryParameters };
export const ASSIGNMENTS: Rule = { mayApply: (t) => t.includes('='), apply: assignments };
export const QUOTED_KEYS: Rule = {
  mayApply: (t) => t.includes(':') && (t.includes('"') || t.includes("'")),
  apply: quotedKeys,
};
export const YAML_KEYS: Rule = { mayApply: (t) => t.includes(':'), apply: yamlKeys };
