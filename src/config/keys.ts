import { z } from 'zod';
import { LOCALES } from '../i18n.js';
import {
  absPath,
  absPaths,
  baseUrl,
  baseUrlList,
  boolText,
  containerNames,
  depList,
  intText,
  linearRegexList,
  nonEmpty,
  notifierList,
  numText,
  optionalAbsPath,
  optionalUrl,
  secretText,
  userOrUid,
} from './parsers.js';

/**
 * One declaration per WATCHDOG_* key: the Config field, its parser, its default (as the string
 * an operator would write), the one-line meaning the README table and .env.example carry, and
 * whether it is a secret (redacted in warnings, also readable from `<KEY>_FILE`).
 */
export interface KeySpec<
  K extends `WATCHDOG_${string}` = `WATCHDOG_${string}`,
  F extends string = string,
  S extends z.ZodType<unknown, string> = z.ZodType<unknown, string>,
> {
  key: K;
  field: F;
  schema: S;
  default: string;
  doc: string;
  group: string;
  secret: boolean;
  /** Raw value used when the given one is malformed, instead of the default (where the default would widen). */
  onInvalid?: string;
}

function spec<const K extends `WATCHDOG_${string}`, const F extends string, S extends z.ZodType<unknown, string>>(
  group: string,
  key: K,
  field: F,
  schema: S,
  dflt: string,
  doc: string,
  extra: { secret?: boolean; onInvalid?: string } = {},
): KeySpec<K, F, S> {
  return {
    key,
    field,
    schema,
    default: dflt,
    doc,
    group,
    secret: extra.secret ?? false,
    ...(extra.onInvalid !== undefined ? { onInvalid: extra.onInvalid } : {}),
  };
}

const DEFAULT_LOCK_PATTERNS = String.raw`index\.lock.*File exists,database is locked,Timeout.*acquir.*lock,lock .* could not be acquired`;

export const KEY_SPECS = [
  spec(
    'server',
    'WATCHDOG_HOST',
    'host',
    nonEmpty,
    '127.0.0.1',
    'Listen address; the container image and docker-compose.yml override it to 0.0.0.0.',
  ),
  spec('server', 'WATCHDOG_PORT', 'port', intText(0, 65_535), '8787', 'Listen port of the HTTP API and /metrics.'),
  spec(
    'server',
    'WATCHDOG_TICK_S',
    'tickS',
    numText(0.05, 86_400),
    '30',
    'Seconds between ticks; ticks never overlap; /healthz turns 503 after 3 missed ticks.',
  ),
  spec(
    'server',
    'WATCHDOG_COOLDOWN_S',
    'cooldownS',
    numText(0, 7 * 86_400),
    '1800',
    'Default re-alert cooldown in seconds, so a standing problem repeats twice an hour, not every tick.',
  ),
  spec(
    'server',
    'WATCHDOG_HTTP_TIMEOUT_S',
    'httpTimeoutS',
    numText(0.05, 600),
    '5',
    'Timeout in seconds for every outbound HTTP call, cut to what is left of the tick budget, so one slow peer cannot stall a tick.',
  ),
  spec(
    'server',
    'WATCHDOG_STATE_FILE',
    'stateFile',
    optionalAbsPath,
    '',
    'Absolute path where alert states, undelivered alerts and the merge-gate queue survive a restart; empty = memory only.',
  ),
  spec(
    'orchestrator',
    'WATCHDOG_METRICS_URL',
    'metricsUrl',
    optionalUrl,
    '',
    "The orchestrator's JSON envelope URL (user:pass@ is sent as basic auth); empty turns orch_down/agent_hung/job_failed off.",
  ),
  spec(
    'orchestrator',
    'WATCHDOG_ORCH_DOWN_AFTER',
    'orchDownAfter',
    intText(1, 1000),
    '3',
    'Consecutive failed fetches before orch_down is active, so one restart does not page.',
  ),
  spec(
    'orchestrator',
    'WATCHDOG_AGENT_HUNG_S',
    'agentHungS',
    numText(1, 7 * 86_400),
    '900',
    "Seconds an agent's cpu_ticks may stand still before it counts as hung.",
  ),
  spec('host', 'WATCHDOG_MEM_CRIT_PCT', 'memCritPct', numText(1, 100), '90', 'Host memory used % that raises host_mem.'),
  spec(
    'host',
    'WATCHDOG_DISK_CRIT_ENABLED',
    'diskCritEnabled',
    boolText,
    'false',
    'Disk ceiling check on/off; in a container, mount the host paths you mean and list those.',
  ),
  spec('host', 'WATCHDOG_DISK_CRIT_PATHS', 'diskCritPaths', absPaths, '/', 'Comma-separated absolute paths whose filesystems are checked.'),
  spec('host', 'WATCHDOG_DISK_CRIT_PCT', 'diskCritPct', numText(1, 100), '90', 'Disk used % that raises disk_crit.'),
  spec(
    'containers and dependencies',
    'WATCHDOG_DOCKER_SOCK',
    'dockerSock',
    absPath('socket path'),
    '/var/run/docker.sock',
    'Docker Engine API socket; only read (GET) requests are made on it.',
  ),
  spec(
    'containers and dependencies',
    'WATCHDOG_CONTAINERS',
    'containers',
    containerNames,
    '',
    'Comma-separated container names to watch; empty turns the container check off.',
  ),
  spec(
    'containers and dependencies',
    'WATCHDOG_DEPS',
    'deps',
    depList,
    '',
    'Comma-separated name=http(s)://url dependencies to ping (user:pass@ is sent as basic auth); empty turns dep_down off.',
  ),
  spec(
    'containers and dependencies',
    'WATCHDOG_DEP_DOWN_AFTER',
    'depDownAfter',
    intText(1, 1000),
    '2',
    'Consecutive failed pings before dep_down is active.',
  ),
  spec(
    'test processes (/proc scan)',
    'WATCHDOG_PROC_ENABLED',
    'procEnabled',
    boolText,
    'false',
    'Scan /proc for long-lived test processes (the incident: a pytest that outlived its run).',
  ),
  spec(
    'test processes (/proc scan)',
    'WATCHDOG_PROC_AGE_MIN',
    'procAgeMin',
    numText(0, 525_600),
    '60',
    'Minutes after which a matching process is proc_blocking.',
  ),
  spec(
    'test processes (/proc scan)',
    'WATCHDOG_PROC_PATTERNS',
    'procPatterns',
    linearRegexList(),
    'pytest',
    'Comma-separated linear-time regular expressions (no backreferences or lookaround) matched on the program (see WATCHDOG_PROC_MATCH); a broken list turns matching and the reaper off.',
    // the default would widen what the reaper takes beyond what the operator wrote
    { onInvalid: '' },
  ),
  spec(
    'test processes (/proc scan)',
    'WATCHDOG_PROC_MATCH',
    'procMatch',
    z.enum(['program', 'cmdline'], 'expected program or cmdline'),
    'program',
    "program: argv[0]'s basename, or for an interpreter the -m module or the script's basename; cmdline: the whole command line (the first design's rule).",
  ),
  spec(
    'test processes (/proc scan)',
    'WATCHDOG_PROC_EXCLUDE',
    'procExclude',
    linearRegexList(),
    '',
    'Comma-separated linear-time regular expressions over the whole command line; a match is never a candidate; a broken list turns matching off.',
  ),
  spec(
    'test processes (/proc scan)',
    'WATCHDOG_PROC_LEFTOVER_GRACE_S',
    'procLeftoverGraceS',
    numText(0, 86_400),
    '120',
    "Seconds after a run's test process is gone before its surviving descendants are blocking.",
  ),
  spec(
    'test processes (/proc scan)',
    'WATCHDOG_PROC_COOLDOWN_S',
    'procCooldownS',
    numText(0, 7 * 86_400),
    '1800',
    'Re-alert cooldown in seconds for proc_blocking.',
  ),
  spec(
    'test processes (/proc scan)',
    'WATCHDOG_PROC_ROOT',
    'procRoot',
    absPath('path'),
    '/proc',
    "Where proc data is read; with pid: host the container's /proc is the host's.",
  ),
  spec(
    'test processes (/proc scan)',
    'WATCHDOG_PROC_REAP_ENABLED',
    'procReapEnabled',
    boolText,
    'false',
    'Opt-in: terminate orphaned matching processes older than the reap age (needs permission to signal them).',
  ),
  spec(
    'test processes (/proc scan)',
    'WATCHDOG_PROC_REAP_AGE_MIN',
    'procReapAgeMin',
    numText(0, 525_600),
    '240',
    'Minutes; the reap age, kept above WATCHDOG_PROC_AGE_MIN so someone is alerted first.',
  ),
  spec(
    'notifiers',
    'WATCHDOG_NOTIFIERS',
    'notifiers',
    notifierList,
    '',
    'Comma-separated: log, telegram, webhook, alertmanager; empty = log plus every integration whose settings are present; an explicit list wins.',
  ),
  spec(
    'notifiers',
    'WATCHDOG_TG_BOT_TOKEN',
    'tgBotToken',
    secretText(/^(\d+:[A-Za-z0-9_-]+)?$/, 'expected <digits>:<token>'),
    '',
    'Telegram Bot API token (<digits>:<token>); a secret, never logged; or WATCHDOG_TG_BOT_TOKEN_FILE, a file holding it.',
    { secret: true },
  ),
  spec(
    'notifiers',
    'WATCHDOG_TG_CHAT_ID',
    'tgChatId',
    z
      .string()
      .trim()
      .regex(/^(-?\d+|@[A-Za-z0-9_]{5,})?$/, 'expected a numeric chat id or @channel'),
    '',
    'Telegram chat id (numeric) or @channel the alerts go to.',
  ),
  spec(
    'notifiers',
    'WATCHDOG_TG_API_URL',
    'tgApiUrl',
    baseUrl,
    'https://api.telegram.org',
    'Bot API base URL; change only for a self-hosted Bot API server.',
  ),
  spec('notifiers', 'WATCHDOG_WEBHOOK_URL', 'webhookUrl', optionalUrl, '', 'Generic JSON webhook URL (user:pass@ is sent as basic auth).'),
  spec(
    'notifiers',
    'WATCHDOG_WEBHOOK_SECRET',
    'webhookSecret',
    secretText(),
    '',
    'Signs webhook bodies with HMAC-SHA256 so the receiver can trust them; a secret; or WATCHDOG_WEBHOOK_SECRET_FILE, a file holding it.',
    { secret: true },
  ),
  spec(
    'notifiers',
    'WATCHDOG_ALERTMANAGER_URL',
    'alertmanagerUrls',
    baseUrlList,
    '',
    'Comma-separated Alertmanager base URLs (API v2), every peer of the cluster: every alert goes to every peer; with the compose monitoring profile: http://alertmanager:9093',
  ),
  spec('notifiers', 'WATCHDOG_LOCALE', 'locale', z.enum(LOCALES, 'expected en or ru'), 'en', 'Alert text language: en or ru.'),
  spec(
    'API',
    'WATCHDOG_API_TOKEN',
    'apiToken',
    secretText(/^\S*$/, 'must not contain whitespace'),
    '',
    'Bearer token for every non-GET route; empty = those routes answer 403; or WATCHDOG_API_TOKEN_FILE, a file holding it.',
    {
      secret: true,
    },
  ),
  spec(
    'merge gate',
    'WATCHDOG_MERGE_RETEST_TIMEOUT_S',
    'mergeRetestTimeoutS',
    numText(1, 86_400),
    '900',
    'Seconds a merge-gate re-test may run before its whole process tree is killed.',
  ),
  spec(
    'merge gate',
    'WATCHDOG_TREE_KILL_ENABLED',
    'treeKillEnabled',
    boolText,
    'true',
    'false = kill only the direct child (the old behaviour that left grandchildren running).',
  ),
  spec('merge gate', 'WATCHDOG_KILL_GRACE_S', 'killGraceS', numText(0, 600), '5', 'Seconds between SIGTERM and SIGKILL.'),
  spec(
    'merge gate',
    'WATCHDOG_MERGE_INFRA_RETRY_MAX',
    'mergeInfraRetryMax',
    intText(0, 1000),
    '3',
    'Infra re-queues (timeout, lock busy) per repo and branch before the gate gives up: exhausted.',
  ),
  spec(
    'merge gate',
    'WATCHDOG_MERGE_SKIP_WHEN_CURRENT',
    'mergeSkipWhenCurrent',
    boolText,
    'true',
    'Skip the re-test when HEAD already is the validated commit.',
  ),
  spec(
    'merge gate',
    'WATCHDOG_MERGE_MAX_PARALLEL',
    'mergeMaxParallel',
    intText(1, 64),
    '1',
    'Re-tests running at once across repos (never more than one per repo).',
  ),
  spec(
    'merge gate',
    'WATCHDOG_MERGE_MAX_CPU_PRESSURE',
    'mergeMaxCpuPressure',
    numText(0, 100),
    '50',
    'Percent; while PSI cpu some avg10 is above it queued re-tests wait (tasks stalled half the time: a re-test would crawl into its timeout).',
  ),
  spec(
    'merge gate',
    'WATCHDOG_MERGE_PRESSURE_WAIT_S',
    'mergePressureWaitS',
    numText(0, 86_400),
    '600',
    'The longest a re-test waits for the CPU pressure to fall, then it starts anyway.',
  ),
  spec(
    'merge gate',
    'WATCHDOG_MERGE_REQUEUE_DELAY_S',
    'mergeRequeueDelayS',
    numText(0, 86_400),
    '60',
    'Back-off of an infra re-queue in seconds: this × 2^(attempt−1).',
  ),
  spec(
    'merge gate',
    'WATCHDOG_MERGE_INFRA_REQUEUE',
    'mergeInfraRequeue',
    boolText,
    'true',
    'false = every failure rolls back (the original behaviour).',
  ),
  spec(
    'merge gate',
    'WATCHDOG_MERGE_RUN_AS',
    'mergeRunAs',
    userOrUid,
    '',
    "User (name or uid) re-tests run as; empty = the owner of cwd; never the watchdog's own identity.",
  ),
  spec(
    'merge gate',
    'WATCHDOG_MERGE_ALLOW_ROOT',
    'mergeAllowRoot',
    boolText,
    'false',
    'Allow a re-test to run as root (a root-owned cwd is otherwise refused with 400).',
  ),
  spec(
    'merge gate',
    'WATCHDOG_MERGE_LOCK_PATTERNS',
    'mergeLockPatterns',
    linearRegexList('m'),
    DEFAULT_LOCK_PATTERNS,
    'Comma-separated linear-time regular expressions: a failed re-test whose output matches one is lock_busy (infra, re-queued), not red.',
  ),
] as const;

type Specs = (typeof KEY_SPECS)[number];
export type ConfigKey = Specs['key'];
/** The typed configuration: one field per key, typed by its parser. */
export type Config = { -readonly [S in Specs as S['field']]: z.output<S['schema']> };
