import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type LoopbackServer } from '../support/http-server.js';

const BIN = new URL('../../bin/orch-watchdog.js', import.meta.url).pathname;
// Asynchronous on purpose: the loopback orchestrator lives in this process and must keep answering.
const cli = (args: string[], env: Record<string, string> = {}) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 20_000 },
      (err, stdout, stderr) => resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });

let orchestrator: LoopbackServer;
beforeAll(async () => {
  orchestrator = await startHttpServer((_req, res) =>
    res.end(
      JSON.stringify({ schema_version: 1, generated_at: 1, queue: { counts: { failed: 0 } }, agents: [{ run_id: '9', cpu_ticks: 5 }] }),
    ),
  );
});
afterAll(() => orchestrator.close());

describe('orch-watchdog tick --json', () => {
  it('runs one tick against the configured sources and prints the signals as JSON', async () => {
    const root = mkdtempSync(join(tmpdir(), 'owd-cli-'));
    writeFileSync(join(root, 'meminfo'), 'MemTotal: 1000 kB\nMemAvailable: 10 kB\n');
    const r = await cli(['tick', '--json'], { WATCHDOG_PROC_ROOT: root, WATCHDOG_METRICS_URL: `${orchestrator.url}/m` });
    expect(r.status).toBe(0);
    const body = JSON.parse(r.stdout);
    expect(body.generated_at).toMatch(/Z$/);
    expect(body.signals.map((s: { key: string; active: boolean }) => [s.key, s.active])).toEqual([
      ['orch_down', false],
      ['agent_hung:9', false],
      ['host_mem', true],
    ]);
  });

  it('a broken source degrades its own signal and is reported, the tick still prints', async () => {
    const root = mkdtempSync(join(tmpdir(), 'owd-cli-'));
    const r = await cli(['tick', '--json'], { WATCHDOG_PROC_ROOT: root });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ failed_collectors: ['host_mem'], signals: [] });
    expect(r.stderr).toMatch(/collector failed/);
  });
});

describe('orch-watchdog check-config', () => {
  it('exits 0 on a clean environment', async () => {
    const r = await cli(['check-config']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('configuration OK\n');
  });

  it('exits 1 listing every bad key, and never prints a secret', async () => {
    const r = await cli(['check-config'], { WATCHDOG_PORT: 'eighty', WATCHDOG_MEM_CRIT_PCT: '150', WATCHDOG_TG_BOT_TOKEN: 'sup3rsecret' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/3 configuration problem/);
    expect(r.stderr).toMatch(/WATCHDOG_PORT="eighty"/);
    expect(r.stderr).toMatch(/WATCHDOG_MEM_CRIT_PCT="150": must be at most 100/);
    expect(r.stderr).toMatch(/WATCHDOG_TG_BOT_TOKEN="\*\*\*"/);
    expect(r.stderr + r.stdout).not.toContain('sup3rsecret');
  });

  // Incident guarded: a ReDoS-prone or non-linear pattern and a tick shorter than the HTTP timeout both passed check-config.
  it('exits 1 on a pattern that cannot run linear-time and on a timeout longer than three ticks', async () => {
    const r = await cli(['check-config'], {
      WATCHDOG_PROC_PATTERNS: String.raw`(py)\1`,
      WATCHDOG_TICK_S: '1',
      WATCHDOG_HTTP_TIMEOUT_S: '5',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/WATCHDOG_PROC_PATTERNS=.*backreference.*cannot run in linear time/);
    expect(r.stderr).toMatch(/WATCHDOG_HTTP_TIMEOUT_S="5": is longer than 3 × WATCHDOG_TICK_S/);
  });

  it('an unknown command exits 2 with the usage', async () => {
    const r = await cli(['frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
  });
});

describe('--help and --version (tick --help exited 2 "unknown argument"; check-config --help ran the check)', () => {
  it.each([
    [['tick', '--help'], /^usage: orch-watchdog tick \[--json\]/],
    [['tick', '-h'], /^usage: orch-watchdog tick/],
    [['check-config', '--help'], /^usage: orch-watchdog check-config\n/],
    [['run', '--help'], /^usage: orch-watchdog run /],
    [['--help'], /^usage: orch-watchdog <command>/],
    [['help'], /^usage: orch-watchdog <command>/],
  ])('%j prints its usage on stdout and exits 0, doing nothing else', async (args, usage) => {
    // a malformed value would make check-config exit 1 had it run the check
    const r = await cli(args, { WATCHDOG_PORT: 'eighty' });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(r.stdout).toMatch(usage);
    expect(r.stdout).toMatch(/exit|Exit/);
  });

  it('--version prints the version from package.json', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await cli([flag]);
      expect(r).toEqual({ status: 0, stdout: `orch-watchdog ${version}\n`, stderr: '' });
    }
  });

  it('an unknown argument to check-config or tick exits 2 with the usage on stderr', async () => {
    for (const args of [
      ['check-config', '--strict'],
      ['tick', '--yaml'],
    ]) {
      const r = await cli(args);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/unknown argument .*\n\nusage: orch-watchdog/);
    }
  });
});
