import { readFileSync } from 'node:fs';
import { crossCheck, resolveNotifiers, unknownKeyWarnings, type ConfigWarning } from './config/checks.js';
import { KEY_SPECS, type Config, type ConfigKey } from './config/keys.js';
import { urlOrigin, type KeySpec } from './config/parsers.js';
import { basicCredentials, decodeUrlPart } from './http.js';
import { REDACTED, redactSecrets, registerSecretValues } from './redact.js';

// Each key parses on its own: a bad value falls back to its default with a warning instead of crashing the server.

export { KEY_SPECS, type Config } from './config/keys.js';
export type { Dependency } from './config/parsers.js';
export { checkPrivileges, type ConfigWarning } from './config/checks.js';

/** Every variable the loader reads: the keys, and `<KEY>_FILE` of each secret. */
const KNOWN_VARIABLES: readonly string[] = [
  ...KEY_SPECS.map((s) => s.key),
  ...KEY_SPECS.filter((s) => s.secret).map((s) => `${s.key}_FILE`),
];

export function defaultValue(key: ConfigKey): string {
  return KEY_SPECS.find((s) => s.key === key)!.default;
}

function shownValue(spec: KeySpec, raw: string): string {
  if (spec.secret) return REDACTED;
  // a URL, or a list holding URLs (the *_URL keys and WATCHDOG_DEPS), shows as scheme and host only
  if (!/_URL$|^WATCHDOG_DEPS$/.test(spec.key)) return redactSecrets(raw);
  return raw
    .split(',')
    .map((item) => {
      const eq = spec.key === 'WATCHDOG_DEPS' ? item.indexOf('=') : -1;
      return eq > 0 ? `${item.slice(0, eq).trim()}=${urlOrigin(item.slice(eq + 1))}` : urlOrigin(item);
    })
    .join(',');
}

/** A secret from `<KEY>` or, the Docker/Kubernetes secrets convention, from the file `<KEY>_FILE` names. */
function readSecret(spec: KeySpec, env: NodeJS.ProcessEnv, warnings: ConfigWarning[]): string | undefined {
  const fileKey = `${spec.key}_FILE`;
  const path = env[fileKey];
  let raw = env[spec.key];
  if (path !== undefined && path !== '') {
    if (raw !== undefined && raw !== '')
      warnings.push({ key: fileKey, value: path, message: `both ${spec.key} and ${fileKey} are set; using the file` });
    try {
      // a file written by `echo` or an editor ends with a newline that is not part of the secret
      raw = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      warnings.push({
        key: fileKey,
        value: path,
        message: `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'}); ${spec.key} stays empty`,
      });
      return undefined;
    }
  }
  if (raw !== undefined && raw !== raw.trim()) {
    // a token pasted with a newline or a space could never authenticate
    warnings.push({ key: spec.key, value: REDACTED, message: 'has surrounding whitespace; it was trimmed' });
    raw = raw.trim();
  }
  return raw;
}

/** What a malformed value is replaced with, and how the warning says so. */
function fallbackFor(spec: KeySpec, raw: string): { fallback: string; using: string } {
  if (spec.onInvalid === undefined) return { fallback: spec.default, using: `using the default "${spec.default}"` };
  const kept = spec.onInvalid(raw);
  if (kept === spec.default) return { fallback: kept, using: `no entry works; using the default "${kept}"` };
  return { fallback: kept, using: kept === '' ? 'no entry works; using ""' : `the other entries stay: using "${kept}"` };
}

function parseKey(spec: KeySpec, raw: string | undefined, warnings: ConfigWarning[]): { value: unknown; failed: boolean } {
  if (raw === undefined) return { value: spec.schema.parse(spec.default), failed: false };
  const result = spec.schema.safeParse(raw);
  if (result.success) return { value: result.data, failed: false };
  const { fallback, using } = fallbackFor(spec, raw);
  const problems = result.error.issues.map((i) => i.message).join('; ');
  warnings.push({
    key: spec.key,
    value: shownValue(spec, raw),
    // parsers never quote a URL past its origin, nor a secret at all
    message: redactSecrets(`${problems}; ${using}`),
  });
  return { value: spec.schema.parse(fallback), failed: true };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): { config: Config; warnings: ConfigWarning[] } {
  const warnings: ConfigWarning[] = [];
  const failedKeys = new Set<string>();
  const values: Record<string, unknown> = {};
  for (const spec of KEY_SPECS) {
    const raw = spec.secret ? readSecret(spec, env, warnings) : env[spec.key];
    const { value, failed } = parseKey(spec, raw, warnings);
    if (failed) failedKeys.add(spec.key);
    values[spec.field] = value;
  }
  const config = values as Config;
  config.notifiers = resolveNotifiers(config, warnings);
  crossCheck(config, failedKeys, warnings);
  warnings.push(...unknownKeyWarnings(env, KNOWN_VARIABLES));
  registerSecretValues(secretValuesOf(config));
  return { config, warnings };
}

/** The one place config warnings reach a log (server and `tick`), with the key as a field. */
export function logConfigWarnings(log: { warn: (obj: object, msg: string) => void }, warnings: readonly ConfigWarning[]): void {
  for (const w of warnings) log.warn({ key: w.key, value: w.value }, `config: ${w.key} ${w.message}`);
}

/** Path segments at least this long are token-like (a Slack or Discord hook's last segment): hidden alone too. */
const TOKEN_SEGMENT_CHARS = 16;

/** The password of `user:pass@` (raw, decoded, and as the Basic credentials sent) and the query of a URL; with `withPath` its path too. */
function urlSecrets(raw: string, withPath: boolean): string[] {
  const u = URL.parse(raw);
  if (!u) return [];
  const out: string[] = [];
  const basic = basicCredentials(u);
  if (basic !== undefined) {
    const user = decodeUrlPart(u.username);
    out.push(u.password, decodeUrlPart(u.password), basic);
    // a user name is a name (`admin`, `hook`), unless it is a key used as the whole userinfo (a Sentry DSN)
    if (user.length >= TOKEN_SEGMENT_CHARS) out.push(u.username, user);
  }
  if (u.search.length > 1) {
    out.push(u.search.slice(1), decodeUrlPart(u.search.slice(1)));
    for (const value of u.searchParams.values()) out.push(value);
  }
  if (withPath && u.pathname !== '/' && u.pathname !== '') {
    out.push(u.pathname, decodeUrlPart(u.pathname));
    for (const segment of u.pathname.split('/')) if (segment.length >= TOKEN_SEGMENT_CHARS) out.push(segment, decodeUrlPart(segment));
  }
  return out;
}

/** Every configured secret, for redaction by value; a webhook URL's path counts (a receiver's path is often its token). */
export function secretValuesOf(
  config: Pick<
    Config,
    'apiToken' | 'tgBotToken' | 'tgChatId' | 'tgApiUrl' | 'webhookSecret' | 'webhookUrl' | 'alertmanagerUrls' | 'metricsUrl' | 'deps'
  >,
): string[] {
  const token = config.tgBotToken;
  return [
    config.apiToken,
    token,
    token.slice(token.indexOf(':') + 1),
    config.tgChatId,
    config.webhookSecret,
    ...urlSecrets(config.webhookUrl, true),
    ...config.alertmanagerUrls.flatMap((url) => urlSecrets(url, true)),
    ...urlSecrets(config.tgApiUrl, false),
    ...urlSecrets(config.metricsUrl, false),
    ...config.deps.flatMap((d) => urlSecrets(d.url, false)),
  ].filter((v) => v !== '');
}
