import { mask, REDACTED } from './names.js';
import type { Rule } from './rule.js';
import {
  code,
  find,
  nextLiteral,
  nextMatch,
  isNonSpace,
  isSpace,
  isWord,
  quotedOrWordEnd,
  Rewriter,
  runEnd,
  scanTriggers,
  startsWithCaseless,
  type CharTest,
  type Meter,
} from './scan.js';

/** Secrets that a known command or header puts in a known place: curl -u, mysql -p, sshpass, openssl, Authorization, bearer. */

export const CURL_USER_FLAGS = ['-u', '-U', '--user', '--proxy-user'];
const isCurlUserChar: CharTest = (c) => c >= 0 && !isSpace(c) && c !== 58 && c !== 34 && c !== 39;
const isCurlPassChar: CharTest = (c) => c >= 0 && !isSpace(c) && c !== 34 && c !== 39;

/** curl -u user:pass, --user=user:pass, --proxy-user 'user:pass': the user stays. */
const curlUser = scanTriggers(nextLiteral('-'), (text, i, _floor, out, meter) =>
  i === 0 || isSpace(code(text, i - 1)) ? curlUserAt(text, i, out, meter) : -1,
);

function curlUserAt(text: string, i: number, out: Rewriter, meter: Meter): number {
  const flag = CURL_USER_FLAGS.find((f) => text.startsWith(f, i));
  if (flag === undefined) return -1;
  let at = i + flag.length;
  if (isSpace(code(text, at))) at = runEnd(text, at, isSpace, meter);
  else if (code(text, at) === 61) at += 1;
  else return -1;
  const quote = code(text, at) === 34 || code(text, at) === 39 ? text.charAt(at) : '';
  const userStart = at + quote.length;
  const userEnd = runEnd(text, userStart, isCurlUserChar, meter);
  if (userEnd === userStart || code(text, userEnd) !== 58 || text.startsWith('//', userEnd + 1)) return -1;
  const passEnd = runEnd(text, userEnd + 1, isCurlPassChar, meter);
  if (passEnd === userEnd + 1 || (quote !== '' && text[passEnd] !== quote)) return -1;
  const end = passEnd + quote.length;
  if (text.slice(userEnd + 1, passEnd) !== REDACTED) out.replace(i, end, `${text.slice(i, userEnd)}:${REDACTED}${quote}`);
  return end;
}

/** `<program> … <flag><value>` on one line (mysql -pPW, sshpass -p PW, openssl … -k PW). */
interface ProgramFlag {
  name: string;
  /** the program's word at `at`, ending in one space: the end of that space, or -1 */
  program: (text: string, at: number, meter: Meter) => number;
  flag: string;
  value: (text: string, at: number, meter: Meter) => { spaceEnd: number; end: number } | null;
  hide: (value: string) => string;
}

function programFlags(spec: ProgramFlag): (text: string, meter: Meter) => string {
  return (text, meter) => {
    const out = new Rewriter(text);
    // a line whose flag search failed: every later program word on it would search a part of the same stretch
    let failedUpTo = -1;
    for (let from = 0; ;) {
      const i = find(text, spec.name, from, meter);
      if (i < 0) break;
      from = i + 1;
      const start = isWord(code(text, i - 1)) ? -1 : spec.program(text, i, meter);
      if (start < 0 || start <= failedUpTo) continue;
      const found = findFlag(text, start, spec, meter);
      if (typeof found === 'number') {
        failedUpTo = found;
        continue;
      }
      out.replace(i, found.end, `${text.slice(i, found.spaceEnd)}${spec.hide(text.slice(found.spaceEnd, found.end))}`);
      from = found.end;
    }
    return out.result();
  };
}

/** The first flag starting a word on the program's line (`[^\n]*?\s`): its value, or where the search gave up. */
function findFlag(text: string, start: number, spec: ProgramFlag, meter: Meter): { spaceEnd: number; end: number } | number {
  let q = start;
  for (; q < text.length; q += 1) {
    meter.steps += 1;
    if ((q === start || isSpace(code(text, q - 1))) && text.startsWith(spec.flag, q)) {
      const value = spec.value(text, q + spec.flag.length, meter);
      if (value !== null) return value;
    }
    if (q > start && code(text, q - 1) === 10) break;
  }
  return q - 1;
}

/** `name` then `tail` letters (`mysqldump`, `mariadb-dump`) then one space. */
function programWord(name: string, tail: CharTest): ProgramFlag['program'] {
  return (text, at, meter) => {
    if (!text.startsWith(name, at)) return -1;
    const end = runEnd(text, at + name.length, tail, meter);
    return isSpace(code(text, end)) ? end + 1 : -1;
  };
}

const isLowerLetter: CharTest = (c) => c >= 97 && c <= 122;
const notRedacted = (text: string, at: number): boolean => !text.startsWith(REDACTED, at);

/** mysql -pPW (glued to -p), also mysqldump, mysqladmin, mariadb: a space after -p means "ask". */
const MYSQL: ProgramFlag[] = [
  ['mysql', isLowerLetter],
  ['mariadb', (c: number) => isLowerLetter(c) || c === 45],
].map(([name, tail]) => ({
  name: name as string,
  program: programWord(name as string, tail as CharTest),
  flag: '-p',
  value: (text: string, at: number, meter: Meter) => {
    if (at >= text.length || isSpace(code(text, at)) || !notRedacted(text, at)) return null;
    return { spaceEnd: at, end: runEnd(text, at, isNonSpace, meter) };
  },
  hide: () => REDACTED,
}));

/** sshpass -p PW / -pPW; openssl … -k PW (the pass phrase): a quoted value is hidden whole. */
function spacedValue(leastSpaces: number): ProgramFlag['value'] {
  return (text, at, meter) => {
    const spaceEnd = runEnd(text, at, isSpace, meter);
    if (spaceEnd - at < leastSpaces || !notRedacted(text, spaceEnd)) return null;
    const end = quotedOrWordEnd(text, spaceEnd, meter);
    return end < 0 ? null : { spaceEnd, end };
  };
}
const spacedFlag = (name: string, flag: string, leastSpaces: number): ProgramFlag => ({
  name,
  program: programWord(name, () => false),
  flag,
  value: spacedValue(leastSpaces),
  hide: mask,
});
const SSHPASS = spacedFlag('sshpass', '-p', 0);
const OPENSSL = spacedFlag('openssl', '-k', 1);

const AUTH_SCHEMES = ['bearer', 'basic', 'token', 'digest', 'negotiate'];
const isAuthValueChar: CharTest = (c) => c >= 0 && !isSpace(c) && c !== 34 && c !== 39 && c !== 44 && c !== 59;

/** Authorization: Bearer xxx / Authorization=Basic xxx / "authorization": "xxx" (the scheme word stays). */
const authorizationHeaders = scanTriggers(nextMatch(/authorization/gi), (text, i, _floor, out, meter) =>
  authorizationAt(text, i, out, meter),
);

function authorizationAt(text: string, i: number, out: Rewriter, meter: Meter): number {
  let at = i + 13;
  if (code(text, at) === 34 || code(text, at) === 39) at += 1;
  at = runEnd(text, at, isSpace, meter);
  if (code(text, at) !== 58 && code(text, at) !== 61) return -1;
  at = runEnd(text, at + 1, isSpace, meter);
  if (code(text, at) === 34 || code(text, at) === 39) at += 1;
  const scheme = AUTH_SCHEMES.find((s) => startsWithCaseless(text, at, s) && isSpace(code(text, at + s.length)));
  if (scheme !== undefined) {
    const valueStart = runEnd(text, at + scheme.length, isSpace, meter);
    const valueEnd = runEnd(text, valueStart, isAuthValueChar, meter);
    if (valueEnd > valueStart) {
      out.replace(i, valueEnd, `${text.slice(i, valueStart)}${REDACTED}`);
      return valueEnd;
    }
  }
  // without a value after it, the scheme word is the value
  const valueEnd = runEnd(text, at, isAuthValueChar, meter);
  if (valueEnd === at) return -1;
  out.replace(i, valueEnd, `${text.slice(i, at)}${REDACTED}`);
  return valueEnd;
}

/** `[A-Za-z0-9._~+/=-]` */
const isBearerChar: CharTest = (c) => isWord(c) || c === 46 || c === 126 || c === 43 || c === 47 || c === 61 || c === 45;

/** `bearer xxx` anywhere (a log line, an error message). */
const bearerTokens = scanTriggers(nextMatch(/bearer/gi), (text, i, _floor, out, meter) => {
  if (isWord(code(text, i - 1))) return -1;
  const valueStart = runEnd(text, i + 6, isSpace, meter);
  const valueEnd = runEnd(text, valueStart, isBearerChar, meter);
  if (valueStart === i + 6 || valueEnd === valueStart) return -1;
  out.replace(i, valueEnd, `${text.slice(i, valueStart)}${REDACTED}`);
  return valueEnd;
});

export const CURL_USER: Rule = { mayApply: (t) => t.includes('-u') || t.includes('-U'), apply: curlUser };
const programRule = (spec: ProgramFlag): Rule => ({ mayApply: (t) => t.includes(spec.name), apply: programFlags(spec) });
export const MYSQL_PASSWORD: Rule[] = MYSQL.map(programRule);
export const SSHPASS_PASSWORD = programRule(SSHPASS);
export const OPENSSL_PASSPHRASE = programRule(OPENSSL);
export const AUTHORIZATION: Rule = { mayApply: (t) => /authorization/i.test(t), apply: authorizationHeaders };
export const BEARER: Rule = { mayApply: (t) => /bearer/i.test(t), apply: bearerTokens };
