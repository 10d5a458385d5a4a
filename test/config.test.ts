import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, defaultValue, loadConfig } from '../src/config.js';

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
    const env = Object.fromEntries(CONFIG_KEYS.map((k) => [k, defaultValue(k)]));
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
    expect(config.procPatterns).toEqual(['pytest']);
    expect(config.diskCritEnabled).toBe(false);
    expect(config.locale).toBe('en');
    expect(config.deps).toEqual([]);
    expect(config.metricsUrl).toBe('');
    const byKey = Object.fromEntries(warnings.map((w) => [w.key, w]));
    expect(Object.keys(byKey).sort()).toEqual(
      ['WATCHDOG_DEPS', 'WATCHDOG_DISK_CRIT_ENABLED', 'WATCHDOG_LOCALE', 'WATCHDOG_METRICS_URL', 'WATCHDOG_PORT', 'WATCHDOG_PROC_PATTERNS', 'WATCHDOG_TICK_S'].sort(),
    );
    expect(byKey.WATCHDOG_PORT?.message).toMatch(/whole number.*default "8787"/);
    expect(byKey.WATCHDOG_PROC_PATTERNS?.message).toMatch(/regular expression/);
    expect(byKey.WATCHDOG_DEPS?.message).toMatch(/"broken" is not name=/);
  });

  it('secrets never appear in a warning', () => {
    const { warnings } = loadConfig({ WATCHDOG_TG_BOT_TOKEN: 'not a token s3cr3t' });
    expect(warnings).toHaveLength(1);
    expect(JSON.stringify(warnings)).not.toContain('s3cr3t');
    expect(warnings[0]?.value).toBe('<redacted>');
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
    expect(warnings.find((w) => w.key === 'WATCHDOG_DEPS')?.value).toContain('http://svc:***@db:5432/health');
  });
});
