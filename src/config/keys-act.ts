import { z } from 'zod';
import { LOCALES } from '../i18n.js';
import {
  baseUrl,
  baseUrlList,
  boolText,
  intText,
  linearEntries,
  linearRegexList,
  notifierList,
  numText,
  optionalUrl,
  secretText,
  userOrUid,
  group,
} from './parsers.js';

const DEFAULT_LOCK_PATTERNS = String.raw`index\.lock.*File exists,database is locked,Timeout.*acquir.*lock,lock .* could not be acquired`;

const notify = group('notifiers');
const api = group('API');
const gate = group('merge gate');

/** The keys of what the watchdog does: notifiers, the API, the merge gate. */
export const ACT_KEYS = [
  notify('WATCHDOG_NOTIFIERS', 'notifiers', notifierList, '', {
    doc: 'Comma-separated: log, telegram, webhook, alertmanager; empty = log plus every integration whose settings are present; an explicit list wins.',
  }),
  notify('WATCHDOG_TG_BOT_TOKEN', 'tgBotToken', secretText(/^(\d+:[A-Za-z0-9_-]+)?$/, 'expected <digits>:<token>'), '', {
    doc: 'Telegram Bot API token (<digits>:<token>); a secret, never logged; or WATCHDOG_TG_BOT_TOKEN_FILE, a file holding it.',
    secret: true,
  }),
  notify(
    'WATCHDOG_TG_CHAT_ID',
    'tgChatId',
    z
      .string()
      .trim()
      .regex(/^(-?\d+|@[A-Za-z0-9_]{5,})?$/, 'expected a numeric chat id or @channel'),
    '',
    { doc: 'Telegram chat id (numeric) or @channel the alerts go to.' },
  ),
  notify('WATCHDOG_TG_API_URL', 'tgApiUrl', baseUrl, 'https://api.telegram.org', {
    doc: 'Bot API base URL; change only for a self-hosted Bot API server.',
  }),
  notify('WATCHDOG_WEBHOOK_URL', 'webhookUrl', optionalUrl, '', { doc: 'Generic JSON webhook URL (user:pass@ is sent as basic auth).' }),
  notify('WATCHDOG_WEBHOOK_SECRET', 'webhookSecret', secretText(), '', {
    doc: 'Signs webhook bodies with HMAC-SHA256 so the receiver can trust them; a secret; or WATCHDOG_WEBHOOK_SECRET_FILE, a file holding it.',
    secret: true,
  }),
  notify('WATCHDOG_ALERTMANAGER_URL', 'alertmanagerUrls', baseUrlList, '', {
    doc: 'Comma-separated Alertmanager base URLs (API v2), every peer of the cluster: every alert goes to every peer; with the compose monitoring profile: http://alertmanager:9093',
  }),
  notify('WATCHDOG_LOCALE', 'locale', z.enum(LOCALES, 'expected en or ru'), 'en', { doc: 'Alert text language: en or ru.' }),
  api('WATCHDOG_API_TOKEN', 'apiToken', secretText(/^\S*$/, 'must not contain whitespace'), '', {
    doc: 'Bearer token for every non-GET route; empty = those routes answer 403; or WATCHDOG_API_TOKEN_FILE, a file holding it.',
    secret: true,
  }),
  gate('WATCHDOG_MERGE_RETEST_TIMEOUT_S', 'mergeRetestTimeoutS', numText(1, 86_400), '900', {
    doc: 'Seconds a merge-gate re-test may run before its whole process tree is killed.',
  }),
  gate('WATCHDOG_TREE_KILL_ENABLED', 'treeKillEnabled', boolText, 'true', {
    doc: 'false = kill only the direct child: its grandchildren survive.',
  }),
  gate('WATCHDOG_KILL_GRACE_S', 'killGraceS', numText(0, 600), '5', { doc: 'Seconds between SIGTERM and SIGKILL.' }),
  gate('WATCHDOG_MERGE_INFRA_RETRY_MAX', 'mergeInfraRetryMax', intText(0, 1000), '3', {
    doc: 'Infra re-queues (timeout, lock busy) per repo and branch before the gate gives up: exhausted.',
  }),
  gate('WATCHDOG_MERGE_SKIP_WHEN_CURRENT', 'mergeSkipWhenCurrent', boolText, 'true', {
    doc: 'Skip the re-test when HEAD already is the validated commit.',
  }),
  gate('WATCHDOG_MERGE_MAX_PARALLEL', 'mergeMaxParallel', intText(1, 64), '1', {
    doc: 'Re-tests running at once across repos (never more than one per repo).',
  }),
  gate('WATCHDOG_MERGE_MAX_CPU_PRESSURE', 'mergeMaxCpuPressure', numText(0, 100), '50', {
    doc: 'Percent; while PSI cpu some avg10 is above it queued re-tests wait (tasks stalled half the time: a re-test would crawl into its timeout).',
  }),
  gate('WATCHDOG_MERGE_PRESSURE_WAIT_S', 'mergePressureWaitS', numText(0, 86_400), '600', {
    doc: 'The longest a re-test waits for the CPU pressure to fall, then it starts anyway.',
  }),
  gate('WATCHDOG_MERGE_REQUEUE_DELAY_S', 'mergeRequeueDelayS', numText(0, 86_400), '60', {
    doc: 'Back-off of an infra re-queue in seconds: this × 2^(attempt−1).',
  }),
  gate('WATCHDOG_MERGE_INFRA_REQUEUE', 'mergeInfraRequeue', boolText, 'true', { doc: 'false = every failure rolls back.' }),
  gate('WATCHDOG_MERGE_RUN_AS', 'mergeRunAs', userOrUid, '', {
    doc: "User (name or uid) re-tests run as; empty = the owner of cwd; never the watchdog's own identity.",
  }),
  gate('WATCHDOG_MERGE_ALLOW_ROOT', 'mergeAllowRoot', boolText, 'false', {
    doc: 'Allow a re-test to run as root (a root-owned cwd is otherwise refused with 400).',
  }),
  gate('WATCHDOG_MERGE_LOCK_PATTERNS', 'mergeLockPatterns', linearRegexList('m'), DEFAULT_LOCK_PATTERNS, {
    doc: 'Comma-separated linear-time regular expressions: a failed re-test whose output matches one is lock_busy (infra, re-queued), not red; an entry that cannot run is dropped with a warning, the others stay (none left: the default).',
    onInvalid: (raw) => linearEntries('m')(raw) || DEFAULT_LOCK_PATTERNS,
  }),
] as const;
