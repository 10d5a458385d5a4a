/**
 * The reference contender of bench/redact.ts: the regular-expression rules src/redact.ts used
 * before it became a linear scan (commit 4ab2acd), kept verbatim so the bench measures both in
 * one run. Not used by the product.
 */
const REDACTED = '***';
const SECRET_NAME =
  /tokens?(?![a-z])|secret|passw(?:or)?d|passphrase|(?<![a-z])(?:api|access|secret|private|signing|master|auth)?[-_]?keys?(?![a-z])|auth(?!or)|credentials?|(?<![a-z])sig(?![a-z])|signature|cookie|(?<![a-z])dsn(?![a-z])/i;
const SECRET_FLAG = new RegExp(`${SECRET_NAME.source}|(?<![a-z])pass(?![a-z])|(?<![a-z])pwd?(?![a-z])`, 'i');
const SECRET_NAME_SUFFIX = /[_.-](?:pass|pwd|pw)(?![a-z])/i;
const QUOTED_OR_WORD = `"[^"]*"|'[^']*'|\\S+`;
const isSecretName = (name: string): boolean => SECRET_NAME.test(name) || SECRET_NAME_SUFFIX.test(name);
const isSecretFlag = (flag: string): boolean => /^--?[A-Za-z]/.test(flag) && SECRET_FLAG.test(flag.replace(/^--?/, ''));
function mask(value: string): string {
  const quote = value[0];
  if (value.length >= 2 && (quote === '"' || quote === "'") && value.endsWith(quote)) return `${quote}${REDACTED}${quote}`;
  return REDACTED;
}

type Rule = [RegExp, (...groups: string[]) => string];
const RULES: Rule[] = [
  [/([a-z][a-z0-9+.-]*:\/\/)([^\s/:@]*):([^\s/@]+)@/gi, (_m, scheme, user) => `${scheme}${user}:${REDACTED}@`],
  [/([a-z][a-z0-9+.-]*:\/\/)([A-Za-z0-9_-]{16,})@/gi, (_m, scheme) => `${scheme}${REDACTED}@`],
  [/\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, () => REDACTED],
  [
    /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|[sr]k_live_[A-Za-z0-9]{16,})/g,
    () => REDACTED,
  ],
  [/(\b(?:set-)?cookie["']?\s*:\s*)([^\r\n"']+)/gi, (_m, head) => `${head}${REDACTED}`],
  [
    /(^|\s)(-u|-U|--user|--proxy-user)(\s+|=)(["']?)([^\s:"']+):(?!\/\/)([^\s"']+)\4/g,
    (m, pre, flag, sep, q, user, value) => (value === REDACTED ? m : `${pre}${flag}${sep}${q}${user}:${REDACTED}${q}`),
  ],
  [/(\b(?:mysql[a-z]*|mariadb[a-z-]*)\s(?:[^\n]*?\s)?)-p(?!\s|\*\*\*)(\S+)/g, (_m, head) => `${head}-p${REDACTED}`],
  [/(\bsshpass\s(?:[^\n]*?\s)?-p)(\s*)(?!\*\*\*)("[^"]*"|'[^']*'|\S+)/g, (_m, head, space, value) => `${head}${space}${mask(value)}`],
  [/(\bopenssl\s(?:[^\n]*?\s)?-k)(\s+)(?!\*\*\*)("[^"]*"|'[^']*'|\S+)/g, (_m, head, space, value) => `${head}${space}${mask(value)}`],
  [
    /(authorization["']?\s*[:=]\s*["']?)((?:bearer|basic|token|digest|negotiate)\s+)?([^\s"',;]+)/gi,
    (_m, head, scheme = '') => `${head}${scheme}${REDACTED}`,
  ],
  [/(\bbearer\s+)([A-Za-z0-9._~+/=-]+)/gi, (m, head, value) => (value === REDACTED ? m : `${head}${REDACTED}`)],
  [/(?<!\d)(\d+):[A-Za-z0-9_-]{30,}/g, (_m, botId) => `${botId}:${REDACTED}`],
  [
    new RegExp(`(^|\\s)(--?[A-Za-z][\\w.-]*)=(${QUOTED_OR_WORD})`, 'g'),
    (m, pre, flag, value) => (isSecretFlag(flag) ? `${pre}${flag}=${mask(value)}` : m),
  ],
  [
    new RegExp(`(^|\\s)(--?[A-Za-z][\\w.-]*)(\\s+)(?!--)(${QUOTED_OR_WORD})`, 'g'),
    (m, pre, flag, space, value) => (isSecretFlag(flag) ? `${pre}${flag}${space}${mask(value)}` : m),
  ],
  [/([?&;])([A-Za-z_][\w.-]*)=([^\s&#"']*)/g, (m, pre, name) => (isSecretName(name) ? `${pre}${name}=${REDACTED}` : m)],
  [
    new RegExp(`(^|[\\s,{(\\[])([A-Za-z_][\\w.-]*)=(${QUOTED_OR_WORD})`, 'g'),
    (m, pre, name, value) => (isSecretName(name) ? `${pre}${name}=${mask(value)}` : m),
  ],
  [
    /(["'])([A-Za-z_][\w.-]*)\1(\s*:\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;}\]]+)/g,
    (m, q, name, sep, value) => (isSecretName(name) && !/^authorization$/i.test(name) ? `${q}${name}${q}${sep}${mask(value)}` : m),
  ],
  [
    /(^|[\s,{])([A-Za-z_][\w.-]*)(:[ \t]+)("[^"]*"|'[^']*'|[^\s,;}\]]+)/g,
    (m, pre, name, sep, value) => (isSecretName(name) && !/^authorization$/i.test(name) ? `${pre}${name}${sep}${mask(value)}` : m),
  ],
];

export function redactWithRegexes(text: string): string {
  let out = text;
  for (const [pattern, replace] of RULES) out = out.replace(pattern, replace as (substring: string, ...args: unknown[]) => string);
  return out;
}
