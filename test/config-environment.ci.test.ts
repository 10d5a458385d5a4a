import { execFile } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config.js';
import { isHiddenProcMount, privilegeWarnings, type Capability, type ProcessFacts } from '../src/config/checks.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';

const BIN = new URL('../bin/orch-watchdog.js', import.meta.url).pathname;
const NOBODY = { uid: 65534, gid: 65534 };

const config = (overrides: Partial<Config>): Config => ({ ...loadConfig({}).config, ...overrides });
const facts = (caps: Capability[], overrides: Partial<ProcessFacts> = {}): ProcessFacts => ({
  uid: 1000,
  capabilities: new Set(caps),
  dockerSocket: 'ok',
  isProcHidden: false,
  ...overrides,
});
const ALL: Capability[] = ['KILL', 'SETGID', 'SETUID', 'SYS_PTRACE'];

/** The real CLI, as `nobody` through setpriv when asked (as the newcomer ran it). */
function checkConfig(env: Record<string, string>, asNobody: boolean) {
  const argv = asNobody
    ? ['setpriv', `--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', '--', process.execPath, BIN, 'check-config']
    : [process.execPath, BIN, 'check-config'];
  return new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      argv[0]!,
      argv.slice(1),
      { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 30_000 },
      (err, stdout, stderr) => resolve({ status: err ? Number((err as { code?: number }).code) : 0, stdout, stderr }),
    );
  });
}

describe('privileges: what the configuration turns on and this identity cannot do', () => {
  it('an ordinary user with write routes on cannot run re-tests as another user: WATCHDOG_MERGE_RUN_AS says so', () => {
    const warnings = privilegeWarnings(config({ apiToken: 't' }), facts([]));
    expect(warnings.map((w) => [w.key, w.message])).toEqual([
      ['WATCHDOG_MERGE_RUN_AS', expect.stringMatching(/uid 1000 without CAP_SETUID and CAP_SETGID: a re-test cannot run as another user/)],
    ]);
  });

  it('without write routes and without the /proc scan nothing needs a privilege (a plain `npm start` stays ok)', () => {
    expect(privilegeWarnings(config({}), facts([]))).toEqual([]);
  });

  it('the reaper without CAP_KILL can signal only its own user: named on WATCHDOG_PROC_REAP_ENABLED', () => {
    const warnings = privilegeWarnings(config({ procEnabled: true, procReapEnabled: true }), facts(['SETUID', 'SETGID']));
    expect(warnings.map((w) => w.key)).toEqual(['WATCHDOG_PROC_REAP_ENABLED']);
    expect(warnings[0]?.message).toMatch(/without CAP_KILL: the reaper and POST \/proc\/candidates\/:pid\/terminate/);
  });

  it('a hidepid /proc hides other users’ test runs unless CAP_SYS_PTRACE', () => {
    const on = config({ procEnabled: true });
    expect(privilegeWarnings(on, facts([], { isProcHidden: true })).map((w) => w.key)).toEqual(['WATCHDOG_PROC_ROOT']);
    expect(privilegeWarnings(on, facts(['SYS_PTRACE'], { isProcHidden: true }))).toEqual([]);
  });

  it('a Docker socket it may not connect to is named when containers are watched', () => {
    const warnings = privilegeWarnings(config({ containers: ['web'] }), facts([], { dockerSocket: 'denied' }));
    expect(warnings.map((w) => w.key)).toEqual(['WATCHDOG_DOCKER_SOCK']);
    expect(privilegeWarnings(config({ containers: ['web'] }), facts([], { dockerSocket: 'absent' }))).toEqual([]);
  });

  it('root with the shipped three capabilities needs nothing more', () => {
    const everything = config({ apiToken: 't', procEnabled: true, procReapEnabled: true, containers: ['web'] });
    expect(privilegeWarnings(everything, facts(['SETUID', 'SETGID', 'KILL'], { uid: 0 }))).toEqual([]);
    expect(privilegeWarnings(everything, facts(ALL, { uid: 0 }))).toEqual([]);
  });

  it('reads hidepid from a mountinfo line, for the proc root only', () => {
    const line = (point: string, opts: string) => `22 1 0:21 / ${point} rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw,${opts}`;
    expect(isHiddenProcMount(line('/proc', 'hidepid=invisible'), '/proc')).toBe(true);
    expect(isHiddenProcMount(line('/proc', 'hidepid=2,gid=4'), '/proc')).toBe(true);
    expect(isHiddenProcMount(line('/proc', 'hidepid=0'), '/proc')).toBe(false);
    expect(isHiddenProcMount(line('/host/proc', 'hidepid=2'), '/proc')).toBe(false);
  });
});

describe('check-config as an ordinary user (README: "`npm start` as an ordinary user … check-config says so")', () => {
  it('as nobody with write routes on: exit 1, naming the re-tests it cannot run and the processes it cannot signal', async () => {
    const r = await checkConfig({ WATCHDOG_API_TOKEN: 'x', WATCHDOG_PROC_ENABLED: 'true' }, true);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/WATCHDOG_MERGE_RUN_AS="": the watchdog runs as uid 65534 without CAP_SETUID and CAP_SETGID/);
    expect(r.stderr).toMatch(/WATCHDOG_API_TOKEN="\*\*\*": the watchdog runs as uid 65534 without CAP_KILL/);
  });

  it('as root (every capability) the same settings are OK', async () => {
    const r = await checkConfig({ WATCHDOG_API_TOKEN: 'x', WATCHDOG_PROC_ENABLED: 'true' }, false);
    expect(r).toMatchObject({ status: 0, stdout: 'configuration OK\n' });
  });

  it('a WATCHDOG_HOST that is well-formed but not this host’s is a problem: a name that does not resolve, an address of no interface', async () => {
    const r1 = await checkConfig({ WATCHDOG_HOST: 'no-such-host.invalid' }, false);
    expect(r1.status).toBe(1);
    expect(r1.stderr).toMatch(
      /WATCHDOG_HOST="no-such-host.invalid": does not resolve \((ENOTFOUND|EAI_AGAIN)\); the server falls back to the default "127.0.0.1"/,
    );
    const r2 = await checkConfig({ WATCHDOG_HOST: '192.0.2.77' }, false);
    expect(r2.stderr).toMatch(/WATCHDOG_HOST="192.0.2.77": is 192.0.2.77, an address of no interface of this host/);
    const r3 = await checkConfig({ WATCHDOG_HOST: '999.1.1.1' }, false);
    expect(r3.stderr).toMatch(/WATCHDOG_HOST="999.1.1.1": expected an IPv4 address/);
  });
});

describe('the real server keeps running on a WATCHDOG_HOST it cannot listen on', { timeout: 90_000 }, () => {
  let server: ServerProcess | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  // a resolver that cannot reach its DNS server answers EAI_AGAIN instead of ENOTFOUND: both are the same fallback
  it.each([
    ['no-such-host.invalid', /ENOTFOUND|EAI_AGAIN/],
    ['192.0.2.77', /EADDRNOTAVAIL/],
    ['999.1.1.1', /expected an IPv4 address/],
  ])(
    'WATCHDOG_HOST=%s: listens on 127.0.0.1 and lists the problem in /healthz and the config_warnings metric (it died with ENOTFOUND)',
    async (host, why) => {
      server = await startServerProcess({ WATCHDOG_HOST: host, WATCHDOG_TICK_S: '2' });
      const { address } = server;
      expect(address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const health = (await (await fetch(`${address}/healthz`)).json()) as {
        status: string;
        config_warnings: { key: string; message: string }[];
      };
      expect(health.config_warnings).toEqual([{ key: 'WATCHDOG_HOST', value: host, message: expect.stringMatching(why) }]);
      expect(health.status).toBe('degraded');
      expect(await (await fetch(`${address}/metrics`)).text()).toMatch(/^orch_watchdog_config_warnings 1$/m);
    },
  );

  it('as nobody with write routes on, /healthz config_warnings says re-tests cannot switch users', async () => {
    server = await startServerProcess({ WATCHDOG_API_TOKEN: 'x', WATCHDOG_TICK_S: '2' }, [], { asUser: NOBODY });
    const { address } = server;
    const health = (await (await fetch(`${address}/healthz`)).json()) as { config_warnings: { key: string }[] };
    expect(health.config_warnings.map((w) => w.key)).toEqual(['WATCHDOG_MERGE_RUN_AS']);
  });
});
