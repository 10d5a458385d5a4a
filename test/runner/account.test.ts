import { describe, expect, it } from 'vitest';
import {
  accountEnv,
  accountPath,
  callerEnv,
  DEFAULT_PATH,
  DEFAULT_SUPATH,
  lookupAccount,
  REQUEST_ENV_LIMITS,
  requestEnvProblem,
} from '../../src/runner/account.js';

const CI = { name: 'ci', home: '/home/ci', shell: '/bin/bash' };

describe("the account's PATH is su(1)'s, never the watchdog's", () => {
  const defs = 'ENV_SUPATH\tPATH=/usr/local/sbin:/usr/sbin:/usr/bin\nENV_PATH PATH=/usr/local/bin:/usr/bin:/bin:/usr/games\n';

  it('login.defs ENV_PATH for a user, ENV_SUPATH for root; with or without the PATH= prefix', () => {
    expect(accountPath(1500, defs)).toBe('/usr/local/bin:/usr/bin:/bin:/usr/games');
    expect(accountPath(0, defs)).toBe('/usr/local/sbin:/usr/sbin:/usr/bin');
    expect(accountPath(1500, 'ENV_PATH /opt/ci/bin:/usr/bin\n')).toBe('/opt/ci/bin:/usr/bin');
  });

  it('no login.defs, a commented or a relative entry: the default', () => {
    expect(accountPath(1500, null)).toBe(DEFAULT_PATH);
    expect(accountPath(0, null)).toBe(DEFAULT_SUPATH);
    expect(accountPath(1500, '# ENV_PATH PATH=/evil\n')).toBe(DEFAULT_PATH);
    expect(accountPath(1500, 'ENV_PATH PATH=bin:/usr/bin\n')).toBe(DEFAULT_PATH);
    expect(accountPath(1500, 'ENV_PATH\n')).toBe(DEFAULT_PATH);
  });
});

describe('the environment of a re-test is an allowlist', () => {
  const watchdogEnv = {
    PATH: '/root/.pyenv/shims:/usr/bin',
    HOME: '/root',
    AWS_SECRET_ACCESS_KEY: 'aws-secret',
    SSH_AUTH_SOCK: '/tmp/ssh-x/agent.1',
    NODE_OPTIONS: '--require=/root/hook.js',
    LD_PRELOAD: '/root/lib.so',
    WATCHDOG_API_TOKEN: 'token',
    LANG: 'C.UTF-8',
    LC_TIME: 'en_GB.UTF-8',
    TZ: 'Europe/Berlin',
    TERM: 'xterm',
  };

  it("the account's PATH, HOME, USER, LOGNAME and SHELL, the watchdog's locale and terminal, nothing else of the watchdog's", () => {
    expect(accountEnv(1500, CI, watchdogEnv)).toEqual({
      PATH: accountPath(1500),
      HOME: '/home/ci',
      USER: 'ci',
      LOGNAME: 'ci',
      SHELL: '/bin/bash',
      LANG: 'C.UTF-8',
      LC_TIME: 'en_GB.UTF-8',
      TZ: 'Europe/Berlin',
      TERM: 'xterm',
    });
  });

  it("the request may set PATH, the locale and its own variables, never the identity or the enter step's names", () => {
    const env = accountEnv(1500, CI, watchdogEnv, {
      PATH: '/opt/py/bin:/usr/bin',
      LANG: 'de_DE.UTF-8',
      PYTEST_ADDOPTS: '-x',
      HOME: '/root',
      USER: 'root',
      ORCH_WATCHDOG_ENV_NAMES: 'x',
    });
    expect(env).toMatchObject({ PATH: '/opt/py/bin:/usr/bin', LANG: 'de_DE.UTF-8', PYTEST_ADDOPTS: '-x', HOME: '/home/ci', USER: 'ci' });
    expect(env).not.toHaveProperty('ORCH_WATCHDOG_ENV_NAMES');
  });

  it('a uid without a passwd entry: its number as USER, HOME=/ and /bin/sh', () => {
    expect(accountEnv(4242, null, {})).toEqual({ PATH: accountPath(4242), HOME: '/', USER: '4242', LOGNAME: '4242', SHELL: '/bin/sh' });
  });

  it("`orch-watchdog run` keeps its caller's environment, less WATCHDOG_* (tokens, secrets, their _FILE paths)", () => {
    expect(callerEnv({ PATH: '/bin', WATCHDOG_API_TOKEN: 't', WATCHDOG_TG_BOT_TOKEN_FILE: '/run/secrets/x', HOME: '/h' })).toEqual({
      PATH: '/bin',
      HOME: '/h',
    });
  });

  it('passwd gives the name, home and shell of a uid; an unknown uid has none', () => {
    const passwd = 'root:x:0:0:root:/root:/bin/bash\nci:x:1500:1500::/home/ci:\n';
    expect(lookupAccount(1500, passwd)).toEqual({ name: 'ci', home: '/home/ci', shell: '/bin/sh' });
    expect(lookupAccount(4242, passwd)).toBeNull();
  });
});

describe("a request's env is checked like every other field", () => {
  const cases: [string, Record<string, string>, RegExp | null][] = [
    ['ordinary variables, PATH and LD_PRELOAD (they reach only the account)', { PATH: '/x', LD_PRELOAD: '/x.so', _A1: '' }, null],
    ['a name with a dash', { 'MY-VAR': '1' }, /"MY-VAR" is not a variable name/],
    ['a name starting with a digit', { '1X': '1' }, /is not a variable name/],
    ['HOME', { HOME: '/root' }, /HOME is the account's own/],
    ['SHELL', { SHELL: '/bin/bash' }, /SHELL is the account's own/],
    ["the enter step's prefix", { ORCH_WATCHDOG_X: '1' }, /reserved/],
    ['a NUL', { A: 'a\0b' }, /must not contain NUL/],
    ['a value too long', { A: 'x'.repeat(REQUEST_ENV_LIMITS.valueBytes + 1) }, /longer than/],
    ['too many', Object.fromEntries(Array.from({ length: REQUEST_ENV_LIMITS.count + 1 }, (_, i) => [`V${i}`, '1'])), /at most 64/],
    ['too much in all', Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`V${i}`, 'x'.repeat(30_000)])), /in all/],
  ];
  for (const [name, env, problem] of cases) {
    it(name, () => {
      const found = requestEnvProblem(env);
      if (problem === null) expect(found).toBeNull();
      else expect(found).toMatch(problem);
    });
  }
});
