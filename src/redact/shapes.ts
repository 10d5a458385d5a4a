import {
  code,
  isAlnum,
  isDigit,
  isKeyChar,
  isLetter,
  isNonSpace,
  isQuote,
  isSpace,
  isWord,
  mask,
  valueEnd,
  REDACTED,
  runEnd,
  runStart,
  scanTriggers,
  startsWithCaseless,
  type CharTest,
  type Meter,
} from './scan.js';

// Secrets recognisable by their shape (URL credentials, JWTs, provider and bot tokens, cookies), or that a
// known command or header puts in a known place (curl -u, mysql -p, sshpass, openssl, Authorization, bearer).

const isSchemeChar: CharTest = (c) => isAlnum(c) || c === 43 || c === 46 || c === 45;
const isUserChar: CharTest = (c) => isNonSpace(c) && c !== 47 && c !== 58 && c !== 64;
const isPassChar: CharTest = (c) => isNonSpace(c) && c !== 47 && c !== 64;

/** `scheme://user:pass@` keeps the user; `scheme://<16+ key chars>@` (Sentry DSN) hides it all; `ssh://git@host` stays. */
const urlCredentials = scanTriggers(/:\/\//g, (text, separator, floor, out, meter) => {
  // the leftmost letter of the scheme run before `://`: every start inside the run fails or matches alike
  let start = runStart(text, separator, floor, isSchemeChar, meter);
  while (start < separator && !isLetter(code(text, start))) start += 1;
  if (start === separator) return -1;
  const info = separator + 3;
  const userEnd = runEnd(text, info, isUserChar, meter);
  if (code(text, userEnd) === 58) {
    const passEnd = runEnd(text, userEnd + 1, isPassChar, meter);
    if (passEnd > userEnd + 1 && code(text, passEnd) === 64) {
      out.replace(start, passEnd + 1, `${text.slice(start, userEnd)}:${REDACTED}@`);
      return passEnd + 1;
    }
  }
  const keyEnd = runEnd(text, info, isKeyChar, meter);
  if (keyEnd - info < 16 || code(text, keyEnd) !== 64) return -1;
  out.replace(start, keyEnd + 1, `${text.slice(start, info)}${REDACTED}@`);
  return keyEnd + 1;
});

/** JSON Web Tokens: `eyJ…` header `.` `eyJ…` payload `.` signature, both first parts base64url JSON. */
const jsonWebTokens = scanTriggers(/(?<!\w)eyJ/g, (text, i, _floor, out, meter) => {
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

/** The body of a provider token after its prefix, and its least length. */
function providerBody(prefix: string): [CharTest, number] {
  if (prefix.startsWith('github')) return [isWord, 20];
  if (prefix.startsWith('gl')) return [isKeyChar, 20];
  if (prefix.startsWith('xox')) return [(c) => isAlnum(c) || c === 45, 10];
  return [isAlnum, prefix.startsWith('gh') ? 20 : 16];
}

/** Provider tokens by prefix: GitHub, GitLab, Slack, Stripe. */
const providerTokens = scanTriggers(
  /(?<!\w)(?:gh[pousr]_|github_pat_|glpat-|xox[abposr]-|[sr]k_live_)/g,
  (text, i, _floor, out, meter, prefix) => {
    const [body, least] = providerBody(prefix);
    // a body shorter than `least` is all a failed look reads
    const bodyEnd = runEnd(text, i + prefix.length, body, meter);
    if (bodyEnd - (i + prefix.length) < least) return -1;
    out.replace(i, bodyEnd, REDACTED);
    return bodyEnd;
  },
);

const isCookieValueChar: CharTest = (c) => c >= 0 && c !== 10 && c !== 13 && !isQuote(c);

/** `Cookie:` / `Set-Cookie:` headers: every cookie up to the end of the header value. */
const cookieHeaders = scanTriggers(/cookie/gi, (text, at, floor, out, meter) => {
  // `set-cookie` is one header name; its `cookie` alone would read the same value
  const i = at - 4 >= floor && startsWithCaseless(text, at - 4, 'set-') && !isWord(code(text, at - 5)) ? at - 4 : at;
  if (isWord(code(text, i - 1))) return -1;
  let colon = at + 6;
  if (isQuote(code(text, colon))) colon += 1;
  colon = runEnd(text, colon, isSpace, meter);
  if (code(text, colon) !== 58) return -1;
  // `\s*` gives characters back until one can start the value: the last blank that is not a line break
  const spaceEnd = runEnd(text, colon + 1, isSpace, meter);
  let valueStart = spaceEnd;
  while (valueStart > colon && !isCookieValueChar(code(text, valueStart))) valueStart -= 1;
  meter.steps += spaceEnd - valueStart;
  if (valueStart === colon) return -1;
  const valueEnd = runEnd(text, valueStart, isCookieValueChar, meter);
  out.replace(i, valueEnd, `${text.slice(i, valueStart)}${REDACTED}`);
  return valueEnd;
});

/** Telegram bot tokens: `<bot id>:<30+ chars>`, also inside `/bot<id>:<token>/` URLs (the id stays). */
const botTokens = scanTriggers(/:/g, (text, colon, floor, out, meter) => {
  // a digit run cut by `floor` starts before it: the regex's (?<!\d) refused every start inside
  const idStart = runStart(text, colon, floor, isDigit, meter);
  if (idStart === colon || isDigit(code(text, idStart - 1))) return -1;
  const tokenEnd = runEnd(text, colon + 1, isKeyChar, meter);
  if (tokenEnd - colon <= 30) return -1;
  out.replace(idStart, tokenEnd, `${text.slice(idStart, colon)}:${REDACTED}`);
  return tokenEnd;
});

export const CURL_USER_FLAGS = ['-u', '-U', '--user', '--proxy-user'];
const isCurlPassChar: CharTest = (c) => isNonSpace(c) && !isQuote(c);
const isCurlUserChar: CharTest = (c) => isCurlPassChar(c) && c !== 58;

/** curl -u user:pass, --user=user:pass, --proxy-user 'user:pass': the user stays. */
const curlUser = scanTriggers(/-u|-U|--user|--proxy-user/g, (text, i, _floor, out, meter, flag) => {
  if (isNonSpace(code(text, i - 1))) return -1;
  let at = i + flag.length;
  if (isSpace(code(text, at))) at = runEnd(text, at, isSpace, meter);
  else if (code(text, at) === 61) at += 1;
  else return -1;
  const quote = isQuote(code(text, at)) ? text.charAt(at) : '';
  const userStart = at + quote.length;
  const userEnd = runEnd(text, userStart, isCurlUserChar, meter);
  if (userEnd === userStart || code(text, userEnd) !== 58 || text.startsWith('//', userEnd + 1)) return -1;
  const passEnd = runEnd(text, userEnd + 1, isCurlPassChar, meter);
  if (passEnd === userEnd + 1 || (quote !== '' && text[passEnd] !== quote)) return -1;
  const end = passEnd + quote.length;
  if (text.slice(userEnd + 1, passEnd) !== REDACTED) out.replace(i, end, `${text.slice(i, userEnd)}:${REDACTED}${quote}`);
  return end;
});

type FlagValue = (text: string, at: number, meter: Meter) => { spaceEnd: number; end: number } | null;
const isLowerLetter: CharTest = (c) => c >= 97 && c <= 122;

/** `<name><tail letters> … <flag><value>` on one line: the value is hidden. */
function programFlag(name: string, tail: CharTest, flag: string, value: FlagValue, hide: (v: string) => string) {
  const trigger = new RegExp(name, 'g');
  return (text: string, meter: Meter): string => {
    // a line whose flag search failed: every later program word on it would search a part of the same stretch
    let failedUpTo = -1;
    return scanTriggers(trigger, (_text, i, _floor, out) => {
      const wordEnd = isWord(code(text, i - 1)) ? -1 : runEnd(text, i + name.length, tail, meter);
      const start = isSpace(code(text, wordEnd)) ? wordEnd + 1 : -1;
      if (start < 0 || start <= failedUpTo) return -1;
      // the first flag starting a word on the program's line (`[^\n]*?\s`)
      for (let q = start; q < text.length; q += 1) {
        meter.steps += 1;
        const found = isSpace(code(text, q - 1)) && text.startsWith(flag, q) ? value(text, q + flag.length, meter) : null;
        if (found !== null) {
          out.replace(i, found.end, `${text.slice(i, found.spaceEnd)}${hide(text.slice(found.spaceEnd, found.end))}`);
          return found.end;
        }
        if (q > start && code(text, q - 1) === 10) {
          failedUpTo = q - 1;
          return -1;
        }
      }
      failedUpTo = text.length - 1;
      return -1;
    })(text, meter);
  };
}

/** mysql -pPW (glued to -p): a space after -p means "ask". */
const gluedValue: FlagValue = (text, at, meter) =>
  at >= text.length || isSpace(code(text, at)) || text.startsWith(REDACTED, at)
    ? null
    : { spaceEnd: at, end: runEnd(text, at, isNonSpace, meter) };

/** sshpass -p PW / -pPW; openssl … -k PW (the pass phrase): a quoted value is hidden whole. */
const spacedValue =
  (leastSpaces: number): FlagValue =>
  (text, at, meter) => {
    const spaceEnd = runEnd(text, at, isSpace, meter);
    if (spaceEnd - at < leastSpaces || text.startsWith(REDACTED, spaceEnd)) return null;
    const end = valueEnd(text, spaceEnd, meter);
    return end < 0 ? null : { spaceEnd, end };
  };

const noTail: CharTest = () => false;
const isMariadbTail: CharTest = (c) => isLowerLetter(c) || c === 45;
/** In order: mysql (also mysqldump, mysqladmin), mariadb (also mariadb-dump), sshpass, openssl. */
const PROGRAM_FLAGS = [
  programFlag('mysql', isLowerLetter, '-p', gluedValue, () => REDACTED),
  programFlag('mariadb', isMariadbTail, '-p', gluedValue, () => REDACTED),
  programFlag('sshpass', noTail, '-p', spacedValue(0), mask),
  programFlag('openssl', noTail, '-k', spacedValue(1), mask),
];

const AUTH_SCHEMES = ['bearer', 'basic', 'token', 'digest', 'negotiate'];
const isAuthValueChar: CharTest = (c) => isNonSpace(c) && !isQuote(c) && c !== 44 && c !== 59;

/** Authorization: Bearer xxx / Authorization=Basic xxx / "authorization": "xxx" (the scheme word stays). */
const authorizationHeaders = scanTriggers(/authorization/gi, (text, i, _floor, out, meter) => {
  let at = i + 13;
  if (isQuote(code(text, at))) at += 1;
  at = runEnd(text, at, isSpace, meter);
  if (code(text, at) !== 58 && code(text, at) !== 61) return -1;
  at = runEnd(text, at + 1, isSpace, meter);
  if (isQuote(code(text, at))) at += 1;
  const scheme = AUTH_SCHEMES.find((s) => startsWithCaseless(text, at, s) && isSpace(code(text, at + s.length)));
  let valueStart = at;
  let valueEnd = -1;
  if (scheme !== undefined) {
    valueStart = runEnd(text, at + scheme.length, isSpace, meter);
    valueEnd = runEnd(text, valueStart, isAuthValueChar, meter);
  }
  // without a value after it, the scheme word is the value
  if (!(valueEnd > valueStart)) {
    valueStart = at;
    valueEnd = runEnd(text, at, isAuthValueChar, meter);
    if (valueEnd === at) return -1;
  }
  out.replace(i, valueEnd, `${text.slice(i, valueStart)}${REDACTED}`);
  return valueEnd;
});

/** `[A-Za-z0-9._~+/=-]` */
const isBearerChar: CharTest = (c) => isKeyChar(c) || c === 46 || c === 126 || c === 43 || c === 47 || c === 61;

/** `bearer xxx` anywhere (a log line, an error message). */
const bearerTokens = scanTriggers(/(?<!\w)bearer/gi, (text, i, _floor, out, meter) => {
  const valueStart = runEnd(text, i + 6, isSpace, meter);
  const valueEnd = runEnd(text, valueStart, isBearerChar, meter);
  if (valueStart === i + 6 || valueEnd === valueStart) return -1;
  out.replace(i, valueEnd, `${text.slice(i, valueStart)}${REDACTED}`);
  return valueEnd;
});

/** In order: later rules see what earlier ones left (`Authorization: Bearer ***` is not redacted twice). */
export const SHAPE_RULES = [
  urlCredentials,
  jsonWebTokens,
  providerTokens,
  cookieHeaders,
  curlUser,
  ...PROGRAM_FLAGS,
  authorizationHeaders,
  bearerTokens,
  botTokens,
];
