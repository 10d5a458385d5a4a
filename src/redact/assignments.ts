import {
  code,
  isLetter,
  isNameChar,
  isNameStart,
  isNonSpace,
  isQuote,
  isSecretFlag,
  isSecretName,
  isSpace,
  mask,
  quotedEnd,
  quotedOrWordEnd,
  REDACTED,
  runEnd,
  runStart,
  scanTriggers,
  type CharTest,
  type Meter,
} from './scan.js';

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

/** --password=xxx, -token=xxx */
const flagEquals = scanTriggers(/-/g, (text, i, _floor, out, meter) => {
  const nameEnd = flagEnd(text, i, meter);
  if (nameEnd < 0 || code(text, nameEnd) !== 61) return -1;
  const end = quotedOrWordEnd(text, nameEnd + 1, meter);
  if (end < 0) return -1;
  const flag = text.slice(i, nameEnd);
  if (isSecretFlag(flag, meter)) out.replace(i, end, `${flag}=${mask(text.slice(nameEnd + 1, end))}`);
  return end;
});

/** --password xxx: the next word is the value unless it is itself a long flag. */
const flagSpace = scanTriggers(/-/g, (text, i, _floor, out, meter) => {
  const nameEnd = flagEnd(text, i, meter);
  if (nameEnd < 0) return -1;
  const valueStart = runEnd(text, nameEnd, isSpace, meter);
  if (valueStart === nameEnd || text.startsWith('--', valueStart)) return -1;
  const end = quotedOrWordEnd(text, valueStart, meter);
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

const isAssignmentSeparator: CharTest = (c) => isSpace(c) || c === 44 || c === 123 || c === 40 || c === 91;

/** NAME=value (env assignments, key=value output) */
const assignments = scanTriggers(/=/g, (text, equals, floor, out, meter) => {
  const i = nameBefore(text, equals, floor, isAssignmentSeparator, meter);
  if (i < 0) return -1;
  const end = quotedOrWordEnd(text, equals + 1, meter);
  if (end < 0) return -1;
  const name = text.slice(i, equals);
  if (isSecretName(name, meter)) out.replace(i, end, `${name}=${mask(text.slice(equals + 1, end))}`);
  return end;
});

const isBareValueChar: CharTest = (c) => isNonSpace(c) && c !== 44 && c !== 59 && c !== 125 && c !== 93;

/** `"…"` with JSON escapes (an escape never takes a line break): the end after the closing quote, or -1. */
function jsonStringEnd(text: string, open: number, meter: Meter): number {
  let j = open + 1;
  for (let c = code(text, j); c >= 0 && c !== 34; c = code(text, j)) {
    const next = code(text, j + 1);
    if (c === 92 && (!(next >= 0) || next === 10 || next === 13 || next === 0x2028 || next === 0x2029)) break;
    j += c === 92 ? 2 : 1;
  }
  meter.steps += j - open + 1;
  return code(text, j) === 34 ? j + 1 : -1;
}

/** `"…"`, `'…'` (JSON strings with escapes when `json`), else a bare word up to `,;}]`. */
function mappingValueEnd(text: string, at: number, json: boolean, meter: Meter): number {
  const quoted = json && code(text, at) === 34 ? jsonStringEnd(text, at, meter) : quotedEnd(text, at, meter);
  if (quoted >= 0) return quoted;
  const end = runEnd(text, at, isBareValueChar, meter);
  return end > at ? end : -1;
}

/** "password": "xxx" (JSON) in health-check output; `"authorization"` is the Authorization rule's. */
const quotedKeys = scanTriggers(/:/g, (text, colon, floor, out, meter) => {
  const close = runStart(text, colon, floor, isSpace, meter) - 1;
  const quote = code(text, close);
  if (close < floor || !isQuote(quote)) return -1;
  const nameStart = runStart(text, close, floor, isNameChar, meter);
  const i = nameStart - 1;
  if (nameStart === close || !isNameStart(code(text, nameStart)) || i < floor || code(text, i) !== quote) return -1;
  const valueStart = runEnd(text, colon + 1, isSpace, meter);
  const end = mappingValueEnd(text, valueStart, true, meter);
  if (end < 0) return -1;
  const name = text.slice(nameStart, close);
  if (isSecretName(name, meter, false)) out.replace(i, end, `${text.slice(i, valueStart)}${mask(text.slice(valueStart, end))}`);
  return end;
});

const isYamlSeparator: CharTest = (c) => isSpace(c) || c === 44 || c === 123;

/** `token: xxx` (YAML-ish) */
const yamlKeys = scanTriggers(/:/g, (text, colon, floor, out, meter) => {
  const i = nameBefore(text, colon, floor, isYamlSeparator, meter);
  if (i < 0) return -1;
  const valueStart = runEnd(text, colon + 1, (c) => c === 32 || c === 9, meter);
  if (valueStart === colon + 1) return -1;
  const end = mappingValueEnd(text, valueStart, false, meter);
  if (end < 0) return -1;
  const name = text.slice(i, colon);
  if (isSecretName(name, meter, false)) out.replace(i, end, `${text.slice(i, valueStart)}${mask(text.slice(valueStart, end))}`);
  return end;
});

export const NAME_RULES = [flagEquals, flagSpace, queryParameters, assignments, quotedKeys, yamlKeys];
