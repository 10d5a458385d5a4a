import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KEY_SPECS, loadConfig } from '../src/config.js';

describe('config: one schema for every WATCHDOG_* key', () => {
  it('an empty environment gives the contract defaults and no warnings', () => {
    const { config, warnings } = loadConfig({});
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8787,
      tickS: 30,
      cooldownS: 1800,
      httpTimeoutS: 5,
      metricsUrl: '',
      orchDownAfter: 3,
      agentHungS: 900,
      memCritPct: 90,
      diskCritEnabled: false,
      diskCritPaths: ['/'],
      procEnabled: false,
      procAgeMin: 60,
      procPatterns: ['pytest'],
      procRoot: '/proc',
      procReapEnabled: false,
      procReapAgeMin: 240,
      depDownAfter: 2,
      notifiers: ['log'],
      tgApiUrl: 'https://api.telegram.org',
      locale: 'en',
      apiToken: '',
      mergeRetestTimeoutS: 900,
      treeKillEnabled: true,
      killGraceS: 5,
      mergeInfraRetryMax: 3,
      mergeSkipWhenCurrent: true,
      mergeMaxParallel: 1,
    });
  });

  it('every key has a default that parses cleanly', () => {
    const env = Object.fromEntries(KEY_SPECS.map((s) => [s.key, s.default]));
    expect(loadConfig(env).warnings).toEqual([]);
  });

  it('a malformed value falls back to its default and is reported with the key and the problem', () => {
    const { config, warnings } = loadConfig({
      WATCHDOG_PORT: '80a',
      WATCHDOG_TICK_S: '-3',
      WATCHDOG_PROC_PATTERNS: 'pytest,([',
      WATCHDOG_DISK_CRIT_ENABLED: 'maybe',
      WATCHDOG_LOCALE: 'de',
      WATCHDOG_DEPS: 'api=http://127.0.0.1:1/health,broken',
      WATCHDOG_METRICS_URL: 'ftp://x',
    });
    expect(config.port).toBe(8787);
    expect(config.tickS).toBe(30);
    // a broken entry is dropped; the list never widens back to the default
    expect(config.procPatterns).toEqual(['pytest']);
    expect(config.diskCritEnabled).toBe(false);
    expect(config.locale).toBe('en');
    expect(config.deps).toEqual([]);
    expect(config.metricsUrl).toBe('');
    const byKey = Object.fromEntries(warnings.map((w) => [w.key, w]));
    expect(Object.keys(byKey).sort()).toEqual(
      [
        'WATCHDOG_DEPS',
        'WATCHDOG_DISK_CRIT_ENABLED',
        'WATCHDOG_LOCALE',
        'WATCHDOG_METRICS_URL',
        'WATCHDOG_PORT',
        'WATCHDOG_PROC_PATTERNS',
        'WATCHDOG_TICK_S',
      ].sort(),
    );
    expect(byKey.WATCHDOG_PORT?.message).toMatch(/whole number.*default "8787"/);
    expect(byKey.WATCHDOG_PROC_PATTERNS?.message).toMatch(/regular expression/);
    expect(byKey.WATCHDOG_DEPS?.message).toMatch(/"broken" is not name=/);
  });

  it('secrets never appear in a warning', () => {
    const { warnings } = loadConfig({ WATCHDOG_TG_BOT_TOKEN: 'not a token s3cr3t' });
    expect(warnings).toHaveLength(1);
    expect(JSON.stringify(warnings)).not.toContain('s3cr3t');
    expect(warnings[0]?.value).toBe('***');
  });

  it('parses lists, booleans and numbers', () => {
    const { config, warnings } = loadConfig({
      WATCHDOG_DEPS: 'api = http://127.0.0.1:9/h , db=https://db.local:5432/ping',
      WATCHDOG_CONTAINERS: 'web, /worker',
      WATCHDOG_DISK_CRIT_PATHS: '/,/var',
      WATCHDOG_PROC_ENABLED: 'YES',
      WATCHDOG_PROC_AGE_MIN: '0.5',
      WATCHDOG_NOTIFIERS: 'log,log',
    });
    expect(warnings).toEqual([]);
    expect(config.deps).toEqual([
      { name: 'api', url: 'http://127.0.0.1:9/h' },
      { name: 'db', url: 'https://db.local:5432/ping' },
    ]);
    expect(config.containers).toEqual(['web', 'worker']);
    expect(config.diskCritPaths).toEqual(['/', '/var']);
    expect(config.procEnabled).toBe(true);
    expect(config.procAgeMin).toBe(0.5);
    expect(config.notifiers).toEqual(['log']);
  });

  it('a notifier named without its credentials is reported', () => {
    const { warnings } = loadConfig({ WATCHDOG_NOTIFIERS: 'log,telegram' });
    expect(warnings.map((w) => w.key)).toEqual(['WATCHDOG_TG_BOT_TOKEN', 'WATCHDOG_TG_CHAT_ID']);
  });
});

// Incident guarded: a malformed URL key was echoed verbatim, credentials included, into /healthz and the log.
describe('config warnings never echo a secret', () => {
  it('a malformed URL or dependency list is reported with user:pass@ and ?token= redacted', () => {
    const { warnings } = loadConfig({
      WATCHDOG_DEPS: 'api=http://svc:depPassSecret@db:5432/health,broken=ftp://u:ftpPassSecret@h/',
      WATCHDOG_WEBHOOK_URL: 'hxxp://hooks.example/x?token=hookTokenSecret',
      WATCHDOG_METRICS_URL: 'not a url user:pw@ http://o:orchPassSecret@h/m',
    });
    expect(warnings.map((w) => w.key).sort()).toEqual(['WATCHDOG_DEPS', 'WATCHDOG_METRICS_URL', 'WATCHDOG_WEBHOOK_URL']);
    const shown = JSON.stringify(warnings);
    for (const secret of ['depPassSecret', 'ftpPassSecret', 'hookTokenSecret', 'orchPassSecret']) expect(shown).not.toContain(secret);
    // URL keys show scheme and host only: no user, password, path or query
    expect(warnings.find((w) => w.key === 'WATCHDOG_DEPS')?.value).toBe('api=http://db:5432,broken=ftp://h');
    expect(warnings.find((w) => w.key === 'WATCHDOG_WEBHOOK_URL')?.value).toBe('hxxp://hooks.example');
  });
});

describe('config: the keys added for the proc, gate, notify and state work', () => {
  it('defaults to the documented values', () => {
    const { config, warnings } = loadConfig({});
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({
      procMatch: 'program',
      procExclude: [],
      procLeftoverGraceS: 120,
      stateFile: '',
      mergeMaxCpuPressure: 50,
      mergePressureWaitS: 600,
      mergeRequeueDelayS: 60,
      mergeInfraRequeue: true,
      mergeRunAs: '',
      mergeAllowRoot: false,
      alertmanagerUrls: [],
    });
  });

  it('parses and validates them', () => {
    const ok = loadConfig({
      WATCHDOG_PROC_MATCH: 'cmdline',
      WATCHDOG_PROC_EXCLUDE: 'pytest --collect-only, ^/usr/bin/tox',
      WATCHDOG_STATE_FILE: '/var/lib/orch-watchdog/state.json',
      WATCHDOG_MERGE_RUN_AS: 'ci',
      WATCHDOG_MERGE_ALLOW_ROOT: 'yes',
      WATCHDOG_ALERTMANAGER_URL: 'http://am-0:9093/, http://am-1:9093',
    });
    expect(ok.warnings).toEqual([]);
    expect(ok.config).toMatchObject({
      procMatch: 'cmdline',
      procExclude: ['pytest --collect-only', '^/usr/bin/tox'],
      stateFile: '/var/lib/orch-watchdog/state.json',
      mergeRunAs: 'ci',
      mergeAllowRoot: true,
      alertmanagerUrls: ['http://am-0:9093', 'http://am-1:9093'],
      notifiers: ['log', 'alertmanager'],
    });
    const bad = loadConfig({
      WATCHDOG_PROC_MATCH: 'argv',
      WATCHDOG_STATE_FILE: 'state.json',
      WATCHDOG_MERGE_RUN_AS: 'not a user',
      WATCHDOG_MERGE_MAX_CPU_PRESSURE: '120',
    });
    expect(bad.warnings.map((w) => w.key).sort()).toEqual([
      'WATCHDOG_MERGE_MAX_CPU_PRESSURE',
      'WATCHDOG_MERGE_RUN_AS',
      'WATCHDOG_PROC_MATCH',
      'WATCHDOG_STATE_FILE',
    ]);
    expect(bad.config).toMatchObject({ procMatch: 'program', stateFile: '', mergeRunAs: '', mergeMaxCpuPressure: 50 });
  });
});

// Incident guarded: WATCHDOG_PROC_PATTERNS=(a+)+$ passed check-config, and one bad pattern fell back to pytest.
describe('config: patterns must run in linear time, and a broken list never widens', () => {
  it.each([['(a+)+$'], ['[a-z]+']])('%s is accepted (it runs linear-time)', (pattern) => {
    const { config, warnings } = loadConfig({ WATCHDOG_PROC_PATTERNS: pattern });
    expect(warnings).toEqual([]);
    expect(config.procPatterns).toEqual([pattern]);
  });

  it('a pattern that cannot run linear-time is dropped with the reason; the others stay (never the default)', () => {
    const { config, warnings } = loadConfig({ WATCHDOG_PROC_PATTERNS: String.raw`pytest,(py)\1,tox` });
    expect(config.procPatterns).toEqual(['pytest', 'tox']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(/backreference.*linear time.*the other entries stay: using "pytest,tox"/);
  });

  it('a list with no entry that can run turns matching off, never back to the default', () => {
    const { config, warnings } = loadConfig({ WATCHDOG_PROC_PATTERNS: String.raw`(py)\1`, WATCHDOG_PROC_ENABLED: 'true' });
    expect(config.procPatterns).toEqual([]);
    expect(warnings.map((w) => w.message)).toEqual([expect.stringMatching(/no entry works; using ""/)]);
  });

  it('a broken exclusion list turns matching off too (without it the scan would take what it protects)', () => {
    const { config, warnings } = loadConfig({ WATCHDOG_PROC_EXCLUDE: '(?!keep)' });
    expect(config.procPatterns).toEqual([]);
    expect(warnings.map((w) => w.key)).toEqual(['WATCHDOG_PROC_EXCLUDE', 'WATCHDOG_PROC_PATTERNS']);
  });

  it("one bad lock pattern is dropped and the operator's others are kept (the whole list used to fall back to the default)", () => {
    const { config, warnings } = loadConfig({ WATCHDOG_MERGE_LOCK_PATTERNS: 'flock busy,(?=x)lock,pg lock timeout' });
    expect(config.mergeLockPatterns).toEqual(['flock busy', 'pg lock timeout']);
    expect(warnings.map((w) => [w.key, w.message])).toEqual([
      ['WATCHDOG_MERGE_LOCK_PATTERNS', expect.stringMatching(/\(\?=x\)lock.*the other entries stay: using "flock busy,pg lock timeout"/)],
    ]);
  });

  it('a lock pattern list with no entry that can run falls back to the default list', () => {
    const { config, warnings } = loadConfig({ WATCHDOG_MERGE_LOCK_PATTERNS: '(?=x)lock' });
    expect(warnings.map((w) => w.key)).toEqual(['WATCHDOG_MERGE_LOCK_PATTERNS']);
    expect(warnings[0]?.message).toMatch(/no entry works; using the default/);
    expect(config.mergeLockPatterns).toContain('database is locked');
  });
});

describe('config: secrets from <KEY>_FILE and without stray whitespace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'watchdog-secrets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads each secret from its _FILE, without the trailing newline', () => {
    const file = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };
    const { config, warnings } = loadConfig({
      WATCHDOG_API_TOKEN_FILE: file('api', 'api-token-1\n'),
      WATCHDOG_TG_BOT_TOKEN_FILE: file('tg', '123456:ABCdef_ghi-jkl\r\n'),
      WATCHDOG_WEBHOOK_SECRET_FILE: file('hook', 'hook secret with spaces inside'),
      WATCHDOG_TG_CHAT_ID: '-100123',
    });
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({
      apiToken: 'api-token-1',
      tgBotToken: '123456:ABCdef_ghi-jkl',
      webhookSecret: 'hook secret with spaces inside',
    });
  });

  it('an unreadable _FILE is a warning naming the file, and the secret stays empty', () => {
    const { config, warnings } = loadConfig({ WATCHDOG_API_TOKEN_FILE: join(dir, 'missing') });
    expect(config.apiToken).toBe('');
    expect(warnings).toEqual([{ key: 'WATCHDOG_API_TOKEN_FILE', value: join(dir, 'missing'), message: expect.stringMatching(/ENOENT/) }]);
  });

  // Incident guarded: a token with a trailing newline could never authenticate, and nothing said why.
  it('a token with surrounding whitespace is trimmed with a warning that does not show it', () => {
    const { config, warnings } = loadConfig({ WATCHDOG_API_TOKEN: '  tok-123\n' });
    expect(config.apiToken).toBe('tok-123');
    expect(warnings).toEqual([{ key: 'WATCHDOG_API_TOKEN', value: '***', message: expect.stringMatching(/whitespace.*trimmed/) }]);
    expect(JSON.stringify(loadConfig({ WATCHDOG_API_TOKEN: 'tok 123' }).warnings)).not.toContain('tok');
    expect(loadConfig({ WATCHDOG_API_TOKEN: 'tok 123' }).config.apiToken).toBe('');
  });
});

// Incident guarded: Telegram token and chat id were set, WATCHDOG_NOTIFIERS did not name telegram, nothing was sent.
describe('config: WATCHDOG_NOTIFIERS follows the settings that are present', () => {
  const telegram = { WATCHDOG_TG_BOT_TOKEN: '123:abc', WATCHDOG_TG_CHAT_ID: '-100123' };

  it('empty: log plus every integration whose settings are all present', () => {
    const { config, warnings } = loadConfig({ ...telegram, WATCHDOG_WEBHOOK_URL: 'http://hook.local/x' });
    expect(warnings).toEqual([]);
    expect(config.notifiers).toEqual(['log', 'telegram', 'webhook']);
  });

  it('empty with half the telegram settings: log only, and the missing key is named', () => {
    const { config, warnings } = loadConfig({ WATCHDOG_TG_BOT_TOKEN: '123:abc' });
    expect(config.notifiers).toEqual(['log']);
    expect(warnings.map((w) => w.key)).toEqual(['WATCHDOG_TG_CHAT_ID']);
  });

  it('an explicit list wins, and settings it leaves out are a warning', () => {
    const { config, warnings } = loadConfig({ ...telegram, WATCHDOG_NOTIFIERS: 'log' });
    expect(config.notifiers).toEqual(['log']);
    expect(warnings).toEqual([
      { key: 'WATCHDOG_NOTIFIERS', value: 'log', message: expect.stringMatching(/telegram settings are present/) },
    ]);
  });
});

// Incident guarded: tick 1 s with the 5 s HTTP timeout never raised orch_down, and check-config accepted it.
describe('config: settings that cannot work together', () => {
  it('an HTTP timeout longer than three ticks is a warning', () => {
    const { warnings } = loadConfig({ WATCHDOG_TICK_S: '1', WATCHDOG_HTTP_TIMEOUT_S: '5' });
    expect(warnings).toEqual([
      { key: 'WATCHDOG_HTTP_TIMEOUT_S', value: '5', message: expect.stringMatching(/3 × WATCHDOG_TICK_S \(3 s\)/) },
    ]);
  });

  it('a kill grace not shorter than the re-test timeout is a warning', () => {
    expect(loadConfig({ WATCHDOG_MERGE_RETEST_TIMEOUT_S: '5', WATCHDOG_KILL_GRACE_S: '5' }).warnings.map((w) => w.key)).toEqual([
      'WATCHDOG_KILL_GRACE_S',
    ]);
  });
});

describe('config: a mistyped value or key is named (a newcomer found both silently ignored)', () => {
  it.each([['999.1.1.1'], ['1.2.3'], ['[::1]'], ['bad host'], ['']])('WATCHDOG_HOST=%j is refused and falls back to 127.0.0.1', (host) => {
    const { config, warnings } = loadConfig({ WATCHDOG_HOST: host });
    expect(config.host).toBe('127.0.0.1');
    expect(warnings.map((w) => [w.key, w.message])).toEqual([
      ['WATCHDOG_HOST', expect.stringMatching(/expected an IPv4 address.*default "127.0.0.1"/)],
    ]);
  });

  it.each([['0.0.0.0'], ['::'], ['::1'], ['localhost'], ['build-01.internal'], ['10.0.0.7']])('WATCHDOG_HOST=%s is accepted', (host) => {
    expect(loadConfig({ WATCHDOG_HOST: host })).toEqual(
      expect.objectContaining({ warnings: [], config: expect.objectContaining({ host }) }),
    );
  });

  it('a misspelled key is reported with the closest known key, and its value is never shown', () => {
    const { config, warnings } = loadConfig({
      WATCHDOG_TIKC_S: '5',
      WATCHDOG_API_TOKNE: 's3cr3t',
      watchdog_port: '9',
      WATCHDOG_FROBNICATE: '1',
    });
    expect(config.tickS).toBe(30);
    expect(warnings).toEqual([
      { key: 'WATCHDOG_API_TOKNE', value: '***', message: expect.stringMatching(/not a known key; did you mean WATCHDOG_API_TOKEN\?/) },
      { key: 'WATCHDOG_FROBNICATE', value: '***', message: expect.stringMatching(/not a known key; it is ignored/) },
      { key: 'WATCHDOG_TIKC_S', value: '***', message: expect.stringMatching(/did you mean WATCHDOG_TICK_S\?/) },
      { key: 'watchdog_port', value: '***', message: expect.stringMatching(/did you mean WATCHDOG_PORT\?/) },
    ]);
    expect(JSON.stringify(warnings)).not.toContain('s3cr3t');
  });

  it("the secrets' _FILE variants and docker-compose's WATCHDOG_PUBLISH are known", () => {
    const dir = mkdtempSync(join(tmpdir(), 'owd-known-'));
    writeFileSync(join(dir, 't'), 'tok\n');
    const { warnings } = loadConfig({ WATCHDOG_API_TOKEN_FILE: join(dir, 't'), WATCHDOG_PUBLISH: '0.0.0.0:8787' });
    expect(warnings).toEqual([]);
    rmSync(dir, { recursive: true });
  });

  it('a boolean names every spelling it accepts', () => {
    const { config, warnings } = loadConfig({ WATCHDOG_PROC_ENABLED: 'ja', WATCHDOG_DISK_CRIT_ENABLED: 'on' });
    expect(config.diskCritEnabled).toBe(true);
    expect(warnings.map((w) => w.message)).toEqual([expect.stringMatching(/^expected true\/false, yes\/no, on\/off or 1\/0;/)]);
  });
});
