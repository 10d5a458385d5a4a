import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDockerd, type Dockerd } from '../support/dockerd.js';
import { importNodeBaseImage } from '../support/node-base-image.js';
import { freePort } from '../support/prometheus.js';

/**
 * The Dockerfile built by a real (private) Docker Engine and run as docker-compose.yml runs it:
 * pid: host, read-only root, all capabilities dropped. No registry is reachable here, so the
 * base is a local stand-in for node:20-slim (test/support/node-base-image.ts); the build stage's
 * `npm ci` reaches the npm registry through `--network host`. There is no bridge network either,
 * so the container shares the host's network and listens on a free loopback port instead of
 * publishing 8787.
 */

const repo = fileURLToPath(new URL('../../', import.meta.url));
const IMAGE = 'orch-watchdog:test';
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
  throw new Error(`${what} did not happen within ${timeoutMs} ms (${String(lastError)})\n${logs.stdout}${logs.stderr}`);
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
  const build = await dockerd.docker(['build', '--network', 'host', '--build-arg', 'NODE_BASE=owd-node-base', '-t', IMAGE, repo], {
    timeoutMs: 240_000,
  });
  if (build.code !== 0) throw new Error(`docker build failed (${build.code}):\n${build.stdout.slice(-4000)}\n${build.stderr.slice(-2000)}`);

  // A long-running "test process" on the host, outside the container, that the /proc scan must see.
  hostTestProcess = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)', marker], { stdio: 'ignore' });
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
    'WATCHDOG_PROC_ENABLED=true',
    '-e',
    `WATCHDOG_PROC_PATTERNS=${marker}`,
    IMAGE,
  ]);
  await waitUntil('GET /healthz answering', async () => ((await api('/healthz')).status === 200 ? true : undefined), 30_000);
}, 300_000);

afterAll(async () => {
  hostTestProcess?.kill('SIGKILL');
  await dockerd?.stop();
});

describe('the image as built', () => {
  let config: ImageConfig;
  beforeAll(async () => {
    config = await inspect<ImageConfig>(IMAGE, '.Config');
  });

  it('runs as the non-root node user under tini (subreaper), exposing 8787 and listening on 0.0.0.0 by default', () => {
    expect(config.User).toBe('node');
    expect(Object.keys(config.ExposedPorts)).toEqual(['8787/tcp']);
    expect(config.Entrypoint).toEqual(['/usr/bin/tini', '-s', '--']);
    expect(config.Cmd).toEqual(['node', 'dist/src/server.js']);
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

  it('sees a test process of the host in GET /proc/candidates, though it runs as another user', async () => {
    type Candidates = { enabled: boolean; candidates: Array<{ pid: number; cmdline: string }> };
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

  it('runs the server as uid 1000 with tini as its parent', async () => {
    const tiniPid = await inspect<number>(NAME, '.State.Pid');
    expect(readFileSync(`/proc/${tiniPid}/comm`, 'utf8').trim()).toBe('tini');
    const children = childrenOf(tiniPid);
    expect(children).toHaveLength(1);
    const status = readFileSync(`/proc/${children[0]}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe('1000');
    expect(readFileSync(`/proc/${children[0]}/cmdline`, 'utf8').split('\0')).toEqual(['node', 'dist/src/server.js', '']);
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
