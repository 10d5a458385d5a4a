import { z } from 'zod';
import { LOCALES } from '../i18n.js';
import * as p from './parsers.js';

const DEFAULT_LOCK_PATTERNS = String.raw`index\.lock.*File exists,database is locked,Timeout.*acquir.*lock,lock .* could not be acquired`;

const server = p.group('server');
const orchestrator = p.group('orchestrator');
const host = p.group('host');
const peers = p.group('containers and dependencies');
const procScan = p.group('test processes (/proc scan)');
const notify = p.group('notifiers');
const api = p.group('API');
const gate = p.group('merge gate');

/** Every WATCHDOG_* key in README order: one declaration each (KeySpec in parsers.ts says what one holds). */
export const KEY_SPECS = [
  server('WATCHDOG_HOST', 'host', p.listenHost, '127.0.0.1', {
    doc: 'Listen address: an IPv4 or IPv6 address or a host name (one the server cannot listen on falls back to 127.0.0.1 with a warning); the image and docker-compose.yml set 0.0.0.0.',
  }),
  server('WATCHDOG_PORT', 'port', p.intText(0, 65_535), '8787', { doc: 'Listen port of the HTTP API and /metrics.' }),
  server('WATCHDOG_TICK_S', 'tickS', p.numText(0.05, 86_400), '30', {
    doc: 'Seconds between ticks; ticks never overlap; /healthz turns 503 after 3 missed ticks.',
  }),
  server('WATCHDOG_COOLDOWN_S', 'cooldownS', p.numText(0, 7 * 86_400), '1800', {
    doc: 'Default re-alert cooldown in seconds, so a standing problem repeats twice an hour, not every tick.',
  }),
  server('WATCHDOG_HTTP_TIMEOUT_S', 'httpTimeoutS', p.numText(0.05, 600), '5', {
    doc: 'Timeout in seconds for every outbound HTTP call, cut to what is left of the tick budget, so one slow peer cannot stall a tick.',
  }),
  server('WATCHDOG_STATE_FILE', 'stateFile', p.optionalAbsPath, '', {
    doc: "Absolute path where alert states, undelivered alerts and the merge-gate queue survive a restart; empty = memory only. Its directory must be the watchdog's own (0700): a path others can write is refused; one watchdog per file.",
  }),
  orchestrator('WATCHDOG_METRICS_URL', 'metricsUrl', p.optionalUrl, '', {
    doc: "The orchestrator's JSON envelope URL (user:pass@ is sent as basic auth); empty turns orch_down/agent_hung/job_failed off.",
  }),
  orchestrator('WATCHDOG_ORCH_CONTAINER', 'orchContainer', p.optionalContainerName, '', {
    doc: "Name of the orchestrator's Docker container when it runs in its own PID namespace: the envelope's agent pids are that namespace's and are translated to this host's (NSpid) for owners and agent protection; empty = the orchestrator shares the watchdog's PID view.",
  }),
  orchestrator('WATCHDOG_ORCH_DOWN_AFTER', 'orchDownAfter', p.intText(1, 1000), '3', {
    doc: 'Consecutive failed fetches before orch_down is active, so one restart does not page.',
  }),
  orchestrator('WATCHDOG_AGENT_HUNG_S', 'agentHungS', p.numText(1, 7 * 86_400), '900', {
    doc: "Seconds an agent's cpu_ticks may stand still before it counts as hung.",
  }),
  host('WATCHDOG_MEM_CRIT_PCT', 'memCritPct', p.numText(1, 100), '90', { doc: 'Host memory used % that raises host_mem.' }),
  host('WATCHDOG_DISK_CRIT_ENABLED', 'diskCritEnabled', p.boolText, 'false', {
    doc: 'Disk ceiling check on/off; in a container, mount the host paths you mean and list those.',
  }),
  host('WATCHDOG_DISK_CRIT_PATHS', 'diskCritPaths', p.absPaths, '/', {
    doc: 'Comma-separated absolute paths whose filesystems are checked.',
  }),
  host('WATCHDOG_DISK_CRIT_PCT', 'diskCritPct', p.numText(1, 100), '90', { doc: 'Disk used % that raises disk_crit.' }),
  peers('WATCHDOG_DOCKER_SOCK', 'dockerSock', p.absPath('socket path'), '/var/run/docker.sock', {
    doc: 'Docker Engine API socket; only read (GET) requests are made on it.',
  }),
  peers('WATCHDOG_CONTAINERS', 'containers', p.containerNames, '', {
    doc: 'Comma-separated container names to watch; empty turns the container check off.',
  }),
  peers('WATCHDOG_DEPS', 'deps', p.depList, '', {
    doc: 'Comma-separated name=http(s)://url dependencies to ping (user:pass@ is sent as basic auth); empty turns dep_down off.',
  }),
  peers('WATCHDOG_DEP_DOWN_AFTER', 'depDownAfter', p.intText(1, 1000), '2', { doc: 'Consecutive failed pings before dep_down is active.' }),
  procScan('WATCHDOG_PROC_ENABLED', 'procEnabled', p.boolText, 'false', {
    doc: 'Scan /proc for long-lived test processes (a pytest that outlived its run).',
  }),
  procScan('WATCHDOG_PROC_AGE_MIN', 'procAgeMin', p.numText(0, 525_600), '60', {
    doc: 'Minutes after which a matching process is proc_blocking.',
  }),
  // onInvalid never the default: it could widen what the reaper takes beyond what the operator wrote
  procScan('WATCHDOG_PROC_PATTERNS', 'procPatterns', p.linearRegexList(), 'pytest', {
    doc: 'Comma-separated linear-time regular expressions (no backreferences or lookaround) matched on the program (see WATCHDOG_PROC_MATCH); an entry that cannot run is dropped with a warning, the others stay (none left: matching and the reaper are off).',
    onInvalid: p.linearEntries(),
  }),
  procScan('WATCHDOG_PROC_MATCH', 'procMatch', z.enum(['program', 'cmdline'], 'expected program or cmdline'), 'program', {
    doc: "program: argv[0]'s basename, or for an interpreter (Python, or a shell running a script file) the -m module or the script's basename; cmdline: the whole command line.",
  }),
  procScan('WATCHDOG_PROC_EXCLUDE', 'procExclude', p.linearRegexList(), '', {
    doc: 'Comma-separated linear-time regular expressions over the whole command line; a match is never a candidate; an entry that cannot run turns matching off (dropping it would expose what it protects).',
  }),
  procScan('WATCHDOG_PROC_LEFTOVER_GRACE_S', 'procLeftoverGraceS', p.numText(0, 86_400), '120', {
    doc: "Seconds after a run's test process is gone before its surviving descendants are blocking.",
  }),
  procScan('WATCHDOG_PROC_COOLDOWN_S', 'procCooldownS', p.numText(0, 7 * 86_400), '1800', {
    doc: 'Re-alert cooldown in seconds for proc_blocking.',
  }),
  procScan('WATCHDOG_PROC_ROOT', 'procRoot', p.absPath('path'), '/proc', {
    doc: "Where proc data is read; with pid: host the container's /proc is the host's.",
  }),
  procScan('WATCHDOG_PROC_REAP_ENABLED', 'procReapEnabled', p.boolText, 'false', {
    doc: 'Opt-in: terminate orphaned matching processes older than the reap age (needs permission to signal them).',
  }),
  procScan('WATCHDOG_PROC_REAP_AGE_MIN', 'procReapAgeMin', p.numText(0, 525_600), '240', {
    doc: 'Minutes; the reap age, kept above WATCHDOG_PROC_AGE_MIN so someone is alerted first.',
  }),
  notify('WATCHDOG_NOTIFIERS', 'notifiers', p.notifierList, '', {
    doc: 'Comma-separated: log, telegram, webhook, alertmanager; empty = log plus every integration whose settings are present; an explicit list wins.',
  }),
  notify('WATCHDOG_TG_BOT_TOKEN', 'tgBotToken', z.string().regex(/^(\d+:[A-Za-z0-9_-]+)?$/, 'expected <digits>:<token>'), '', {
    doc: 'Telegram Bot API token (<digits>:<token>); a secret, never logged; or WATCHDOG_TG_BOT_TOKEN_FILE, a file holding it.',
    secret: true,
    requiredBy: 'telegram',
  }),
  notify(
    'WATCHDOG_TG_CHAT_ID',
    'tgChatId',
    z
      .string()
      .trim()
      .regex(/^(-?\d+|@[A-Za-z0-9_]{5,})?$/, 'expected a numeric chat id or @channel'),
    '',
    { doc: 'Telegram chat id (numeric) or @channel the alerts go to.', requiredBy: 'telegram' },
  ),
  notify('WATCHDOG_TG_API_URL', 'tgApiUrl', p.baseUrl, 'https://api.telegram.org', {
    doc: 'Bot API base URL; change only for a self-hosted Bot API server.',
  }),
  notify('WATCHDOG_WEBHOOK_URL', 'webhookUrl', p.optionalUrl, '', {
    doc: 'Generic JSON webhook URL (user:pass@ is sent as basic auth).',
    requiredBy: 'webhook',
  }),
  notify('WATCHDOG_WEBHOOK_SECRET', 'webhookSecret', z.string(), '', {
    doc: 'Signs webhook bodies with HMAC-SHA256 so the receiver can trust them; a secret; or WATCHDOG_WEBHOOK_SECRET_FILE, a file holding it.',
    secret: true,
  }),
  notify('WATCHDOG_ALERTMANAGER_URL', 'alertmanagerUrls', p.baseUrlList, '', {
    doc: 'Comma-separated Alertmanager base URLs (API v2), every peer of the cluster: every alert goes to every peer; with the compose monitoring profile: http://alertmanager:9093',
    requiredBy: 'alertmanager',
  }),
  notify('WATCHDOG_LOCALE', 'locale', z.enum(LOCALES, 'expected en or ru'), 'en', { doc: 'Alert text language: en or ru.' }),
  api('WATCHDOG_API_TOKEN', 'apiToken', z.string().regex(/^\S*$/, 'must not contain whitespace'), '', {
    doc: 'Bearer token for every non-GET route; empty = those routes answer 403; or WATCHDOG_API_TOKEN_FILE, a file holding it.',
    secret: true,
  }),
  gate('WATCHDOG_MERGE_RETEST_TIMEOUT_S', 'mergeRetestTimeoutS', p.numText(1, 86_400), '900', {
    doc: 'Seconds a merge-gate re-test may run before its whole process tree is killed.',
  }),
  gate('WATCHDOG_TREE_KILL_ENABLED', 'treeKillEnabled', p.boolText, 'true', {
    doc: 'false = kill only the direct child: its grandchildren survive.',
  }),
  gate('WATCHDOG_KILL_GRACE_S', 'killGraceS', p.numText(0, 600), '5', { doc: 'Seconds between SIGTERM and SIGKILL.' }),
  gate('WATCHDOG_MERGE_INFRA_RETRY_MAX', 'mergeInfraRetryMax', p.intText(0, 1000), '3', {
    doc: 'Infra re-queues (timeout, lock busy) per repo and branch before the gate gives up: exhausted.',
  }),
  gate('WATCHDOG_MERGE_SKIP_WHEN_CURRENT', 'mergeSkipWhenCurrent', p.boolText, 'true', {
    doc: 'Skip the re-test when HEAD already is the validated commit.',
  }),
  gate('WATCHDOG_MERGE_MAX_PARALLEL', 'mergeMaxParallel', p.intText(1, 64), '1', {
    doc: 'Re-tests running at once across repos (never more than one per repo).',
  }),
  gate('WATCHDOG_MERGE_MAX_CPU_PRESSURE', 'mergeMaxCpuPressure', p.numText(0, 100), '50', {
    doc: 'Percent; while PSI cpu some avg10 is above it queued re-tests wait (tasks stalled half the time: a re-test would crawl into its timeout).',
  }),
  gate('WATCHDOG_MERGE_PRESSURE_WAIT_S', 'mergePressureWaitS', p.numText(0, 86_400), '600', {
    doc: 'The longest a re-test waits for the CPU pressure to fall, then it starts anyway.',
  }),
  gate('WATCHDOG_MERGE_REQUEUE_DELAY_S', 'mergeRequeueDelayS', p.numText(0, 86_400), '60', {
    doc: 'Back-off of an infra re-queue in seconds: this × 2^(attempt−1).',
  }),
  gate('WATCHDOG_MERGE_INFRA_REQUEUE', 'mergeInfraRequeue', p.boolText, 'true', { doc: 'false = every failure rolls back.' }),
  gate('WATCHDOG_MERGE_RUN_AS', 'mergeRunAs', p.userOrUid, '', {
    doc: "User (name or uid) re-tests run as; empty = the owner of cwd; never the watchdog's own identity.",
  }),
  gate('WATCHDOG_MERGE_ALLOW_ROOT', 'mergeAllowRoot', p.boolText, 'false', {
    doc: 'Allow a re-test to run as root (a root-owned cwd is otherwise refused with 400).',
  }),
  gate('WATCHDOG_MERGE_LOCK_PATTERNS', 'mergeLockPatterns', p.linearRegexList('m'), DEFAULT_LOCK_PATTERNS, {
    doc: 'Comma-separated linear-time regular expressions: a failed re-test whose output matches one is lock_busy (infra, re-queued), not red; an entry that cannot run is dropped with a warning, the others stay (none left: the default).',
    onInvalid: (raw) => p.linearEntries('m')(raw) || DEFAULT_LOCK_PATTERNS,
  }),
] as const;

type Specs = (typeof KEY_SPECS)[number];
export type ConfigKey = Specs['key'];
/** The typed configuration: one field per key, typed by its parser. */
export type Config = { -readonly [S in Specs as S['field']]: z.output<S['schema']> };
