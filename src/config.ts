import { z } from 'zod';
import { LOCALES } from './i18n.js';
import { redactSecrets } from './redact.js';

/**
 * Every WATCHDOG_* key (CONTRACT §2) in one schema. Each key parses on its own so a bad value
 * falls back to its default and becomes a warning instead of crashing the running server;
 * `check-config` reports the same warnings and exits 1.
 */

const boolText = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'].includes(v), 'expected true or false')
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const numText = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^[+]?(\d+(\.\d*)?|\.\d+)$/, 'expected a non-negative number')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const intText = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^[+]?\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const httpUrl = z
  .string()
  .trim()
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'expected an http(s) URL');

const optionalUrl = z.union([z.literal(''), httpUrl]);

const csv = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );

const regexList = csv.pipe(
  z.array(
    z.string().refine((p) => {
      try {
        new RegExp(p);
        return true;
      } catch {
        return false;
      }
    }, 'not a valid regular expression'),
  ),
);

const absPaths = csv.pipe(z.array(z.string().startsWith('/', 'paths must be absolute')));

const containerNames = csv.pipe(
  z.array(z.string().regex(/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'not a valid container name')),
);

export interface Dependency {
  name: string;
  url: string;
}

const depList = csv.pipe(
  z.array(
    z
      .string()
      .transform((pair, ctx): Dependency => {
        const eq = pair.indexOf('=');
        const name = eq > 0 ? pair.slice(0, eq).trim() : '';
        const url = eq > 0 ? pair.slice(eq + 1).trim() : '';
        if (!/^[A-Za-z0-9_.-]+$/.test(name) || !httpUrl.safeParse(url).success) {
          ctx.addIssue({ code: 'custom', message: `"${pair}" is not name=http(s)://url` });
          return z.NEVER;
        }
        return { name, url };
      }),
  ),
).refine((deps) => new Set(deps.map((d) => d.name)).size === deps.length, 'dependency names must be unique');

export const NOTIFIER_NAMES = ['log', 'telegram', 'webhook', 'alertmanager'] as const;
export type NotifierName = (typeof NOTIFIER_NAMES)[number];

const notifierList = csv.pipe(z.array(z.enum(NOTIFIER_NAMES, 'expected log, telegram, webhook or alertmanager')));

const host = z.string().trim().min(1, 'must not be empty');

/** key -> [schema applied to the raw string, default raw string, is it a secret]. */
const KEYS = {
  WATCHDOG_HOST: [host, '127.0.0.1'],
  WATCHDOG_PORT: [intText(0, 65_535), '8787'],
  WATCHDOG_TICK_S: [numText(0.05, 86_400), '30'],
  WATCHDOG_COOLDOWN_S: [numText(0, 7 * 86_400), '1800'],
  WATCHDOG_HTTP_TIMEOUT_S: [numText(0.05, 600), '5'],
  WATCHDOG_METRICS_URL: [optionalUrl, ''],
  WATCHDOG_ORCH_DOWN_AFTER: [intText(1, 1000), '3'],
  WATCHDOG_AGENT_HUNG_S: [numText(1, 7 * 86_400), '900'],
  WATCHDOG_MEM_CRIT_PCT: [numText(1, 100), '90'],
  WATCHDOG_DISK_CRIT_ENABLED: [boolText, 'false'],
  WATCHDOG_DISK_CRIT_PATHS: [absPaths, '/'],
  WATCHDOG_DISK_CRIT_PCT: [numText(1, 100), '90'],
  WATCHDOG_DOCKER_SOCK: [z.string().trim().startsWith('/', 'expected an absolute socket path'), '/var/run/docker.sock'],
  WATCHDOG_CONTAINERS: [containerNames, ''],
  WATCHDOG_DEPS: [depList, ''],
  WATCHDOG_DEP_DOWN_AFTER: [intText(1, 1000), '2'],
  WATCHDOG_PROC_ENABLED: [boolText, 'false'],
  WATCHDOG_PROC_AGE_MIN: [numText(0, 525_600), '60'],
  WATCHDOG_PROC_PATTERNS: [regexList, 'pytest'],
  WATCHDOG_PROC_COOLDOWN_S: [numText(0, 7 * 86_400), '1800'],
  WATCHDOG_PROC_ROOT: [z.string().trim().startsWith('/', 'expected an absolute path'), '/proc'],
  WATCHDOG_PROC_REAP_ENABLED: [boolText, 'false'],
  WATCHDOG_PROC_REAP_AGE_MIN: [numText(0, 525_600), '240'],
  WATCHDOG_NOTIFIERS: [notifierList, 'log'],
  WATCHDOG_TG_BOT_TOKEN: [z.string().trim().regex(/^(\d+:[A-Za-z0-9_-]+)?$/, 'expected <digits>:<token>'), '', true],
  WATCHDOG_TG_CHAT_ID: [z.string().trim().regex(/^(-?\d+|@[A-Za-z0-9_]{5,})?$/, 'expected a numeric chat id or @channel'), ''],
  WATCHDOG_TG_API_URL: [httpUrl, 'https://api.telegram.org'],
  WATCHDOG_WEBHOOK_URL: [optionalUrl, ''],
  WATCHDOG_WEBHOOK_SECRET: [z.string(), '', true],
  WATCHDOG_ALERTMANAGER_URL: [optionalUrl, ''],
  WATCHDOG_LOCALE: [z.enum(LOCALES, 'expected en or ru'), 'en'],
  WATCHDOG_API_TOKEN: [z.string().trim(), '', true],
  WATCHDOG_MERGE_RETEST_TIMEOUT_S: [numText(1, 86_400), '900'],
  WATCHDOG_TREE_KILL_ENABLED: [boolText, 'true'],
  WATCHDOG_KILL_GRACE_S: [numText(0, 600), '5'],
  WATCHDOG_MERGE_INFRA_RETRY_MAX: [intText(0, 1000), '3'],
  WATCHDOG_MERGE_SKIP_WHEN_CURRENT: [boolText, 'true'],
  WATCHDOG_MERGE_MAX_PARALLEL: [intText(1, 64), '1'],
  WATCHDOG_MERGE_MAX_CPU_PRESSURE: [numText(0, 100), '50'],
  WATCHDOG_MERGE_PRESSURE_WAIT_S: [numText(0, 86_400), '600'],
  WATCHDOG_MERGE_REQUEUE_DELAY_S: [numText(0, 86_400), '60'],
  WATCHDOG_MERGE_INFRA_REQUEUE: [boolText, 'true'],
  WATCHDOG_MERGE_RUN_AS: [z.string().trim().regex(/^([a-z_][a-z0-9_.-]*\$?|\d+)?$/i, 'expected a user name or a uid'), ''],
  WATCHDOG_MERGE_ALLOW_ROOT: [boolText, 'false'],
  WATCHDOG_MERGE_LOCK_PATTERNS: [regexList, String.raw`index\.lock.*File exists,database is locked,Timeout.*acquir.*lock,lock .* could not be acquired`],
} as const satisfies Record<string, readonly [z.ZodType<unknown, string>, string] | readonly [z.ZodType<unknown, string>, string, true]>;

export type ConfigKey = keyof typeof KEYS;
export const CONFIG_KEYS = Object.keys(KEYS) as ConfigKey[];

type Parsed<K extends ConfigKey> = z.output<(typeof KEYS)[K][0]>;
export type RawConfig = { [K in ConfigKey]: Parsed<K> };

export interface ConfigWarning {
  key: string;
  /** The offending value, or "<redacted>" for secrets. */
  value: string;
  message: string;
}

export interface Config {
  host: string;
  port: number;
  tickS: number;
  cooldownS: number;
  httpTimeoutS: number;
  metricsUrl: string;
  orchDownAfter: number;
  agentHungS: number;
  memCritPct: number;
  diskCritEnabled: boolean;
  diskCritPaths: string[];
  diskCritPct: number;
  dockerSock: string;
  containers: string[];
  deps: Dependency[];
  depDownAfter: number;
  procEnabled: boolean;
  procAgeMin: number;
  procPatterns: string[];
  procCooldownS: number;
  procRoot: string;
  procReapEnabled: boolean;
  procReapAgeMin: number;
  notifiers: NotifierName[];
  tgBotToken: string;
  tgChatId: string;
  tgApiUrl: string;
  webhookUrl: string;
  webhookSecret: string;
  alertmanagerUrl: string;
  locale: (typeof LOCALES)[number];
  apiToken: string;
  mergeRetestTimeoutS: number;
  treeKillEnabled: boolean;
  killGraceS: number;
  mergeInfraRetryMax: number;
  mergeSkipWhenCurrent: boolean;
  mergeMaxParallel: number;
  mergeLockPatterns: string[];
  mergeMaxCpuPressure: number;
  mergePressureWaitS: number;
  mergeRequeueDelayS: number;
  mergeInfraRequeue: boolean;
  mergeRunAs: string;
  mergeAllowRoot: boolean;
}

export interface LoadedConfig {
  config: Config;
  warnings: ConfigWarning[];
}

export function defaultValue(key: ConfigKey): string {
  return KEYS[key][1];
}

export function isSecretKey(key: ConfigKey): boolean {
  return KEYS[key].length === 3;
}

function parseKey<K extends ConfigKey>(key: K, raw: string | undefined, warnings: ConfigWarning[]): Parsed<K> {
  const [schema, fallback] = KEYS[key];
  if (raw !== undefined) {
    const result = schema.safeParse(raw);
    if (result.success) return result.data as Parsed<K>;
    warnings.push({
      key,
      // a malformed URL may still carry user:pass@ or ?token=: shown in /healthz and the log
      value: isSecretKey(key) ? '<redacted>' : redactSecrets(raw),
      message: redactSecrets(`${result.error.issues.map((i) => i.message).join('; ')}; using the default "${fallback}"`),
    });
  }
  return schema.parse(fallback) as Parsed<K>;
}

/** Settings that parse on their own but do not fit together: reported, never fatal. */
function crossCheck(c: Config, warnings: ConfigWarning[]): void {
  const need = (notifier: NotifierName, keys: [string, string][]): void => {
    if (!c.notifiers.includes(notifier)) return;
    for (const [key, value] of keys) {
      if (value === '') {
        warnings.push({ key, value: '', message: `WATCHDOG_NOTIFIERS names ${notifier} but ${key} is empty; ${notifier} is off` });
      }
    }
  };
  need('telegram', [
    ['WATCHDOG_TG_BOT_TOKEN', c.tgBotToken],
    ['WATCHDOG_TG_CHAT_ID', c.tgChatId],
  ]);
  need('webhook', [['WATCHDOG_WEBHOOK_URL', c.webhookUrl]]);
  need('alertmanager', [['WATCHDOG_ALERTMANAGER_URL', c.alertmanagerUrl]]);
  if (c.procReapEnabled && c.procReapAgeMin < c.procAgeMin) {
    warnings.push({
      key: 'WATCHDOG_PROC_REAP_AGE_MIN',
      value: String(c.procReapAgeMin),
      message: 'is below WATCHDOG_PROC_AGE_MIN: processes would be reaped before anyone is alerted',
    });
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const warnings: ConfigWarning[] = [];
  const r = {} as Record<ConfigKey, unknown>;
  for (const key of CONFIG_KEYS) r[key] = parseKey(key, env[key], warnings);
  const raw = r as RawConfig;
  const config: Config = {
    host: raw.WATCHDOG_HOST,
    port: raw.WATCHDOG_PORT,
    tickS: raw.WATCHDOG_TICK_S,
    cooldownS: raw.WATCHDOG_COOLDOWN_S,
    httpTimeoutS: raw.WATCHDOG_HTTP_TIMEOUT_S,
    metricsUrl: raw.WATCHDOG_METRICS_URL,
    orchDownAfter: raw.WATCHDOG_ORCH_DOWN_AFTER,
    agentHungS: raw.WATCHDOG_AGENT_HUNG_S,
    memCritPct: raw.WATCHDOG_MEM_CRIT_PCT,
    diskCritEnabled: raw.WATCHDOG_DISK_CRIT_ENABLED,
    diskCritPaths: raw.WATCHDOG_DISK_CRIT_PATHS,
    diskCritPct: raw.WATCHDOG_DISK_CRIT_PCT,
    dockerSock: raw.WATCHDOG_DOCKER_SOCK,
    containers: raw.WATCHDOG_CONTAINERS.map((n) => n.replace(/^\//, '')),
    deps: raw.WATCHDOG_DEPS,
    depDownAfter: raw.WATCHDOG_DEP_DOWN_AFTER,
    procEnabled: raw.WATCHDOG_PROC_ENABLED,
    procAgeMin: raw.WATCHDOG_PROC_AGE_MIN,
    procPatterns: raw.WATCHDOG_PROC_PATTERNS,
    procCooldownS: raw.WATCHDOG_PROC_COOLDOWN_S,
    procRoot: raw.WATCHDOG_PROC_ROOT,
    procReapEnabled: raw.WATCHDOG_PROC_REAP_ENABLED,
    procReapAgeMin: raw.WATCHDOG_PROC_REAP_AGE_MIN,
    notifiers: [...new Set(raw.WATCHDOG_NOTIFIERS)],
    tgBotToken: raw.WATCHDOG_TG_BOT_TOKEN,
    tgChatId: raw.WATCHDOG_TG_CHAT_ID,
    tgApiUrl: raw.WATCHDOG_TG_API_URL.replace(/\/+$/, ''),
    webhookUrl: raw.WATCHDOG_WEBHOOK_URL,
    webhookSecret: raw.WATCHDOG_WEBHOOK_SECRET,
    alertmanagerUrl: raw.WATCHDOG_ALERTMANAGER_URL.replace(/\/+$/, ''),
    locale: raw.WATCHDOG_LOCALE,
    apiToken: raw.WATCHDOG_API_TOKEN,
    mergeRetestTimeoutS: raw.WATCHDOG_MERGE_RETEST_TIMEOUT_S,
    treeKillEnabled: raw.WATCHDOG_TREE_KILL_ENABLED,
    killGraceS: raw.WATCHDOG_KILL_GRACE_S,
    mergeInfraRetryMax: raw.WATCHDOG_MERGE_INFRA_RETRY_MAX,
    mergeSkipWhenCurrent: raw.WATCHDOG_MERGE_SKIP_WHEN_CURRENT,
    mergeMaxParallel: raw.WATCHDOG_MERGE_MAX_PARALLEL,
    mergeLockPatterns: raw.WATCHDOG_MERGE_LOCK_PATTERNS,
    mergeMaxCpuPressure: raw.WATCHDOG_MERGE_MAX_CPU_PRESSURE,
    mergePressureWaitS: raw.WATCHDOG_MERGE_PRESSURE_WAIT_S,
    mergeRequeueDelayS: raw.WATCHDOG_MERGE_REQUEUE_DELAY_S,
    mergeInfraRequeue: raw.WATCHDOG_MERGE_INFRA_REQUEUE,
    mergeRunAs: raw.WATCHDOG_MERGE_RUN_AS,
    mergeAllowRoot: raw.WATCHDOG_MERGE_ALLOW_ROOT,
  };
  crossCheck(config, warnings);
  return { config, warnings };
}

/** A config for tests: defaults, then the overrides. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({}).config, ...overrides };
}
