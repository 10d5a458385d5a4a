import { REDACTED } from './names.js';
import type { Rule } from './rule.js';
import {
  code,
  isAlnum,
  isDigit,
  isLetter,
  isSpace,
  isWord,
  nextLiteral,
  nextMatch,
  runEnd,
  runStart,
  scanTriggers,
  startsWithCaseless,
  type CharTest,
  type Meter,
  type Rewriter,
} from './scan.js';

/** Secrets recognisable by their shape wherever they stand: URL credentials, JWTs, provider and bot tokens, cookies. */

const isSchemeChar: CharTest = (c) => isAlnum(c) || c === 43 || c === 46 || c === 45;
const isUserChar: CharTest = (c) => c >= 0 && !isSpace(c) && c !== 47 && c !== 58 && c !== 64;
const isPassChar: CharTest = (c) => c >= 0 && !isSpace(c) && c !== 47 && c !== 64;
/** `[A-Za-z0-9_-]`: base64url, key and bot-token characters */
const isKeyChar: CharTest = (c) => isWord(c) || c === 45;

/** `scheme://user:pass@` keeps the user; `scheme://<16+ key chars>@` (Sentry DSN) hides it all; `ssh://git@host` stays. */
const urlCredentials = scanTriggers(nextLiteral('://'), (text, separator, floor, out, meter) => {
  // the leftmost letter of the scheme run before `://`: every start inside the run fails or matches alike
  let start = runStart(text, separator, floor, isSchemeChar, meter);
  while (start < separator && !isLetter(code(text, start))) start += 1;
  return start < separator ? userinfoEnd(text, start, separator + 3, out, meter) : -1;
});

function userinfoEnd(text: string, start: number, info: number, out: Rewriter, meter: Meter): number {
  const userEnd = runEnd(text, info, isUserChar, meter);
  if (code(text, userEnd) === 58) {
    const passEnd = runEnd(text, userEnd + 1, isPassChar, meter);
    if (passEnd > userEnd + 1 && code(text, passEnd) === 64) {
      out.replace(start, passEnd + 1, `${text.slice(start, userEnd)}:${REDACTED}@`);
      return passEnd + 1;
    }
  }
  const keyEnd = runEnd(text, info, isKeyChar, meter);
  if (keyEnd - info >= 16 && code(text, keyEnd) === 64) {
    out.replace(start, keyEnd + 1, `${text.slice(start, info)}${REDACTED}@`);
    return keyEnd + 1;
  }
  return -1;
}

/** JSON Web Tokens: `eyJ…` header `.` `eyJ…` payload `.` signature, both first parts base64url JSON. */
const jsonWebTokens = scanTriggers(nextLiteral('eyJ'), (text, i, _floor, out, meter) => {
  if (isWord(code(text, i - 1))) return -1;
  const headerEnd = runEnd(text, i + 3, isKeyChar, meter);
  const payloadEnd =
    headerEnd - i >= 7 && code(text, headerEnd) === 46 && text.startsWith('eyJ', headerEnd + 1)
      ? runEnd(text, headerEnd + 4, isKeyChar, meter)
      : -1;
  // a failed look resumes after the header run: an `eyJ` later in it shares its end, and fails the same way
  if (payloadEnd - headerEnd < 8 || code(text, payloadEnd) !== 46) return headerEnd;
  const end = runEnd(text, payloadEnd + 1, isKeyChar, meter);
  out.replace(i, end, REDACTED);
  return end;
});

/** Provider tokens by prefix: GitHub, GitLab, Slack, Stripe. `[prefix test, body characters, least body length]` */
const PROVIDER_TOKENS: [(text: string, at: number) => number, CharTest, number][] = [
  [(t, at) => (t.startsWith('gh', at) && 'pousr'.includes(t[at + 2] ?? '-') && t[at + 3] === '_' ? 4 : 0), isAlnum, 20],
  [(t, at) => (t.startsWith('github_pat_', at) ? 11 : 0), isWord, 20],
  [(t, at) => (t.startsWith('glpat-', at) ? 6 : 0), isKeyChar, 20],
  [
    (t, at) => (t.startsWith('xox', at) && 'abposr'.includes(t[at + 3] ?? '-') && t[at + 4] === '-' ? 5 : 0),
    (c) => isAlnum(c) || c === 45,
    10,
  ],
  [(t, at) => ((t[at] === 's' || t[at] === 'r') && t.startsWith('k_live_', at + 1) ? 8 : 0), isAlnum, 16],
];

const PROVIDER_PREFIX = /gh[pousr]_|github_pat_|glpat-|xox[abposr]-|[sr]k_live_/g;

const providerTokens = scanTriggers(nextMatch(PROVIDER_PREFIX), (text, i, _floor, out, meter) => {
  if (isWord(code(text, i - 1))) return -1;
  for (const [prefix, body, least] of PROVIDER_TOKENS) {
    const head = prefix(text, i);
    if (head === 0) continue;
    // a body shorter than `least` is all a failed look reads
    const bodyEnd = runEnd(text, i + head, body, meter);
    if (bodyEnd - (i + head) < least) return -1;
    out.replace(i, bodyEnd, REDACTED);
    return bodyEnd;
  }
  return -1;
});

const isCookieValueChar: CharTest = (c) => c >= 0 && c !== 10 && c !== 13 && c !== 34 && c !== 39;
const COOKIE = /cookie/gi;

/** `Cookie:` / `Set-Cookie:` headers: every cookie up to the end of the header value. */
const cookieHeaders = scanTriggers(nextMatch(COOKIE), (text, at, floor, out, meter) => {
  // `set-cookie` is one header name; its `cookie` alone would read the same value
  const start = at - 4 >= floor && startsWithCaseless(text, at - 4, 'set-') && !isWord(code(text, at - 5)) ? at - 4 : at;
  return isWord(code(text, start - 1)) ? -1 : cookieAt(text, start, out, meter);
});

function cookieAt(text: string, i: number, out: Rewriter, meter: Meter): number {
  let at = startsWithCaseless(text, i, 'set-cookie') ? i + 10 : startsWithCaseless(text, i, 'cookie') ? i + 6 : -1;
  if (at < 0) return -1;
  if (code(text, at) === 34 || code(text, at) === 39) at += 1;
  at = runEnd(text, at, isSpace, meter);
  if (code(text, at) !== 58) return -1;
  // `\s*` gives characters back until one can start the value: the last blank that is not a line break
  const spaceEnd = runEnd(text, at + 1, isSpace, meter);
  let valueStart = spaceEnd;
  while (valueStart > at && !isCookieValueChar(code(text, valueStart))) valueStart -= 1;
  meter.steps += spaceEnd - valueStart;
  if (valueStart === at) return -1;
  const valueEnd = runEnd(text, valueStart, isCookieValueChar, meter);
  out.replace(i, valueEnd, `${text.slice(i, valueStart)}${REDACTED}`);
  return valueEnd;
}

/** Telegram bot tokens: `<bot id>:<30+ chars>`, also inside `/bot<id>:<token>/` URLs (the id stays). */
const botTokens = scanTriggers(nextLiteral(':'), (text, colon, floor, out, meter) => {
  // a digit run cut by `floor` starts before it: the regex's (?<!\d) refused every start inside
  const idStart = runStart(text, colon, floor, isDigit, meter);
  if (idStart === colon || isDigit(code(text, idStart - 1))) return -1;
  const tokenEnd = runEnd(text, colon + 1, isKeyChar, meter);
  if (tokenEnd - colon <= 30) return -1;
  out.replace(idStart, tokenEnd, `${text.slice(idStart, colon)}:${REDACTED}`);
  return tokenEnd;
});

export const URL_CREDENTIALS: Rule = { mayApply: (t) => t.includes('://'), apply: urlCredentials };
export const JSON_WEB_TOKENS: Rule = { mayApply: (t) => t.includes('eyJ'), apply: jsonWebTokens };
export const PROVIDER_TOKEN_RULE: Rule = {
  mayApply: (t) => t.includes('gh') || t.includes('github_pat_') || t.includes('glpat-') || t.includes('xox') || t.includes('k_live_'),
  apply: providerTokens,
};
export const COOKIE_HEADERS: Rule = { mayApply: (t) => /cookie/i.test(t), apply: cookieHeaders };
export const BOT_TOKENS: Rule = { mayApply: (t) => t.includes(':'), apply: botTokens };
