/**
 * Secret redaction for anything that leaves the process: /proc command lines, health-check
 * output, alert texts, logs, config warnings. The secret becomes `***` (the one marker used
 * everywhere); the name stays visible so an operator still sees what was passed. Over-redaction
 * is preferred to a leak. Callers bound the text (a command line, a cut health output).
 */

export const REDACTED = '***';

/** Words that make a name a secret's name (`--db-password`, `GH_TOKEN`, `client_secret`, `apiKey`, `sig`, `cookie`). */
const SECRET_NAME =
  /tokens?(?![a-z])|secret|passw(?:or)?d|passphrase|(?<![a-z])(?:api|access|secret|private|signing|master|auth)?[-_]?keys?(?![a-z])|auth(?!or)|credentials?|(?<![a-z])sig(?![a-z])|signature|cookie|(?<![a-z])dsn(?![a-z])/i;

/** Flags also accept `--pass` / `-pwd` / `--pw`, which would over-match as plain words in `NAME=` form. */
const SECRET_FLAG = new RegExp(`${SECRET_NAME.source}|(?<![a-z])pass(?![a-z])|(?<![a-z])pwd?(?![a-z])`, 'i');

/** `DB_PASS`, `MYSQL_PWD`, `redis.pw` — a short password word after a separator (plain `PWD=` is the working directory). */
const SECRET_NAME_SUFFIX = /[_.-](?:pass|pwd|pw)(?![a-z])/i;

const QUOTED_OR_WORD = `"[^"]*"|'[^']*'|\\S+`;

function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name) || SECRET_NAME_SUFFIX.test(name);
}

function isSecretFlag(flag: string): boolean {
  return /^--?[A-Za-z]/.test(flag) && SECRET_FLAG.test(flag.replace(/^--?/, ''));
}

/** Keeps surrounding quotes so the shape of the command line survives. */
function mask(value: string): string {
  const quote = value[0];
  if (value.length >= 2 && (quote === '"' || quote === "'") && value.endsWith(quote)) return `${quote}${REDACTED}${quote}`;
  return REDACTED;
}

type Rule = [RegExp, (...groups: string[]) => string];

const RULES: Rule[] = [
  // scheme://user:pass@host, also redis://:pass@host
  [/([a-z][a-z0-9+.-]*:\/\/)([^\s/:@]*):([^\s/@]+)@/gi, (_m, scheme, user) => `${scheme}${user}:${REDACTED}@`],
  // a key as the whole userinfo (Sentry DSN https://<key>@o1.ingest.sentry.io/2); `git@` stays
  [/([a-z][a-z0-9+.-]*:\/\/)([A-Za-z0-9_-]{16,})@/gi, (_m, scheme) => `${scheme}${REDACTED}@`],
  // JSON Web Tokens: header.payload.signature, both first parts base64url JSON ("eyJ")
  [/\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, () => REDACTED],
  // provider tokens recognisable by their prefix (GitHub, GitLab, Slack, Stripe)
  [
    /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|[sr]k_live_[A-Za-z0-9]{16,})/g,
    () => REDACTED,
  ],
  // Cookie: / Set-Cookie: headers, every cookie up to the end of the header value
  [/(\b(?:set-)?cookie["']?\s*:\s*)([^\r\n"']+)/gi, (_m, head) => `${head}${REDACTED}`],
  // curl -u user:pass, --user user:pass, --proxy-user user:pass (the user stays)
  [
    /(^|\s)(-u|-U|--user|--proxy-user)(\s+|=)(["']?)([^\s:"']+):(?!\/\/)([^\s"']+)\4/g,
    (m, pre, flag, sep, q, user, value) => (value === REDACTED ? m : `${pre}${flag}${sep}${q}${user}:${REDACTED}${q}`),
  ],
  // mysql -pPW (the password glued to -p), also mysqldump, mysqladmin, mariadb
  [/(\b(?:mysql[a-z]*|mariadb[a-z-]*)\s(?:[^\n]*?\s)?)-p(?!\s|\*\*\*)(\S+)/g, (_m, head) => `${head}-p${REDACTED}`],
  // sshpass -p PW / -pPW, openssl … -k PW (pass phrase); elsewhere -p and -k mean other things
  [/(\bsshpass\s(?:[^\n]*?\s)?-p)(\s*)(?!\*\*\*)("[^"]*"|'[^']*'|\S+)/g, (_m, head, space, value) => `${head}${space}${mask(value)}`],
  [/(\bopenssl\s(?:[^\n]*?\s)?-k)(\s+)(?!\*\*\*)("[^"]*"|'[^']*'|\S+)/g, (_m, head, space, value) => `${head}${space}${mask(value)}`],
  // Authorization: Bearer xxx / Authorization=Basic xxx (the scheme word stays)
  [
    /(authorization["']?\s*[:=]\s*["']?)((?:bearer|basic|token|digest|negotiate)\s+)?([^\s"',;]+)/gi,
    (_m, head, scheme = '') => `${head}${scheme}${REDACTED}`,
  ],
  [/(\bbearer\s+)([A-Za-z0-9._~+/=-]+)/gi, (m, head, value) => (value === REDACTED ? m : `${head}${REDACTED}`)],
  // Telegram bot tokens: <bot id>:<35 chars>, also inside /bot<id>:<token>/ URLs
  [/(?<!\d)(\d+):[A-Za-z0-9_-]{30,}/g, (_m, botId) => `${botId}:${REDACTED}`],
  // --password=xxx, -token=xxx
  [
    new RegExp(`(^|\\s)(--?[A-Za-z][\\w.-]*)=(${QUOTED_OR_WORD})`, 'g'),
    (m, pre, flag, value) => (isSecretFlag(flag) ? `${pre}${flag}=${mask(value)}` : m),
  ],
  // --password xxx (the next word is the value unless it is itself a long flag)
  [
    new RegExp(`(^|\\s)(--?[A-Za-z][\\w.-]*)(\\s+)(?!--)(${QUOTED_OR_WORD})`, 'g'),
    (m, pre, flag, space, value) => (isSecretFlag(flag) ? `${pre}${flag}${space}${mask(value)}` : m),
  ],
  // ?access_token=xxx&... (a query value ends at & or #)
  [/([?&;])([A-Za-z_][\w.-]*)=([^\s&#"']*)/g, (m, pre, name) => (isSecretName(name) ? `${pre}${name}=${REDACTED}` : m)],
  // NAME=value (env assignments, key=value output)
  [
    new RegExp(`(^|[\\s,{(\\[])([A-Za-z_][\\w.-]*)=(${QUOTED_OR_WORD})`, 'g'),
    (m, pre, name, value) => (isSecretName(name) ? `${pre}${name}=${mask(value)}` : m),
  ],
  // "password": "xxx" (JSON) and `token: xxx` (YAML-ish) in health-check output
  [
    /(["'])([A-Za-z_][\w.-]*)\1(\s*:\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;}\]]+)/g,
    (m, q, name, sep, value) => (isSecretName(name) && !/^authorization$/i.test(name) ? `${q}${name}${q}${sep}${mask(value)}` : m),
  ],
  [
    /(^|[\s,{])([A-Za-z_][\w.-]*)(:[ \t]+)("[^"]*"|'[^']*'|[^\s,;}\]]+)/g,
    (m, pre, name, sep, value) => (isSecretName(name) && !/^authorization$/i.test(name) ? `${pre}${name}${sep}${mask(value)}` : m),
  ],
];

/** Returns `text` with every recognised secret replaced by `***`. Idempotent. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const [pattern, replace] of RULES) {
    out = out.replace(pattern, replace as (substring: string, ...args: unknown[]) => string);
  }
  return out;
}

/**
 * Redacts an argv (as read from /proc/<pid>/cmdline) and joins it with spaces. Works on the
 * elements first so `--password "two words"` hides both words, then on the joined line.
 */
const USER_FLAGS = new Set(['-u', '-U', '--user', '--proxy-user']);

export function redactArgv(argv: readonly string[]): string {
  const programs = new Set<string>();
  const masked = argv.map((arg, i) => {
    const prev = argv[i - 1];
    programs.add(arg.slice(arg.lastIndexOf('/') + 1));
    if (prev === undefined) return arg;
    if (!prev.includes('=') && isSecretFlag(prev) && !arg.startsWith('--')) return REDACTED;
    if ((prev === '-p' && programs.has('sshpass')) || (prev === '-k' && programs.has('openssl'))) return REDACTED;
    // curl -u 'user:pass with spaces': joining would split the value
    if (USER_FLAGS.has(prev) && arg.includes(':') && !arg.includes('://')) return `${arg.slice(0, arg.indexOf(':'))}:${REDACTED}`;
    return arg;
  });
  return redactSecrets(masked.join(' '));
}

/** Cuts to `maxChars` (an ellipsis marks the cut); redact first so no secret is half-kept. */
export function truncate(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  let cut = Math.max(0, maxChars - 1);
  // never split a surrogate pair (emoji, non-BMP) in half
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
  return `${text.slice(0, cut)}…`;
}
