/** What makes a name a secret's name, and how a secret value is masked. */

export const REDACTED = '***';

/** Words that make a name a secret's name (`--db-password`, `GH_TOKEN`, `client_secret`, `apiKey`, `sig`, `cookie`). */
const SECRET_NAME =
  /tokens?(?![a-z])|secret|passw(?:or)?d|passphrase|(?<![a-z])(?:api|access|secret|private|signing|master|auth)?[-_]?keys?(?![a-z])|auth(?!or)|credentials?|(?<![a-z])sig(?![a-z])|signature|cookie|(?<![a-z])dsn(?![a-z])/i;

/** Flags also accept `--pass` / `-pwd` / `--pw`, which would over-match as plain words in `NAME=` form. */
const SECRET_FLAG = new RegExp(`${SECRET_NAME.source}|(?<![a-z])pass(?![a-z])|(?<![a-z])pwd?(?![a-z])`, 'i');

/** `DB_PASS`, `MYSQL_PWD`, `redis.pw` — a short password word after a separator (plain `PWD=` is the working directory). */
const SECRET_NAME_SUFFIX = /[_.-](?:pass|pwd|pw)(?![a-z])/i;

// Each alternative above has a bounded length, so a test costs time linear in the name.
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name) || SECRET_NAME_SUFFIX.test(name);
}

/** `--password`, `-token`: a dash, a letter, and a secret's name. */
export function isSecretFlag(flag: string): boolean {
  return /^--?[A-Za-z]/.test(flag) && SECRET_FLAG.test(flag.replace(/^--?/, ''));
}

/** Keeps surrounding quotes so the shape of the command line survives. */
export function mask(value: string): string {
  const quote = value[0];
  if (value.length >= 2 && (quote === '"' || quote === "'") && value.endsWith(quote)) return `${quote}${REDACTED}${quote}`;
  return REDACTED;
}
