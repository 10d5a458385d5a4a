import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerCollector, createContainerMetrics } from '../../../src/sources/containers/collector.js';
import {
  DOCKER_ANSWER_MAX_BYTES,
  DockerodeReader,
  toContainerState,
  type ContainerState,
} from '../../../src/sources/containers/docker-client.js';
import type { Config } from '../../../src/config.js';
import { testConfig } from '../../support/app.js';
import { AlertStates } from '../../../src/watchdog/alert-state.js';
import { CRASH_LOOP_WINDOW_S, ContainerSignals, ENGINE_ENTITY, HEALTH_OUTPUT_MAX_CHARS } from '../../../src/sources/containers/signals.js';
import type { CollectContext, Signal } from '../../../src/watchdog/signal.js';
import { testApp } from '../../support/app.js';
import { importBusyboxImage } from '../../support/busybox-image.js';
import { startDockerd, type Dockerd } from '../../support/dockerd.js';
import { waitFor } from '../../support/wait-for.js';

const silent = pino({ level: 'silent' });
const T0 = Date.parse('2026-11-22T12:00:00Z');
const ENGINE_KEY = `container:${ENGINE_ENTITY}`;

const ctxAt = (now: number): CollectContext => ({ abortSignal: new AbortController().signal, now, log: silent });
const byKey = (signals: Signal[]): Map<string, Signal> => new Map(signals.map((s) => [s.key, s]));

function running(overrides: Partial<ContainerState> = {}): ContainerState {
  return {
    name: 'web',
    id: 'f'.repeat(64),
    status: 'running',
    exitCode: 0,
    error: '',
    oomKilled: false,
    startedAt: '2026-11-22T11:00:00Z',
    finishedAt: null,
    restartCount: 0,
    initPid: 4242,
    health: null,
    ...overrides,
  };
}

describe('container verdicts (pure)', () => {
  const settings = { names: ['web'], socketPath: '/var/run/docker.sock', locale: 'en' as const };
  const found = (state: ContainerState) => ({ ok: true as const, lookups: new Map([['web', { kind: 'found' as const, state }]]) });

  it('one restart (a night-time OOM) is not a crash loop; a second within 15 min is; 15 min without a restart recovers', () => {
    const s = new ContainerSignals(settings);
    const web = (n: number, at: number) => byKey(s.next(found(running({ restartCount: n })), at)).get('container:web');
    expect(web(0, T0)?.active).toBe(false);
    expect(web(1, T0 + 30_000)?.active).toBe(false);
    const looping = web(2, T0 + 60_000);
    expect(looping?.active).toBe(true);
    expect(looping?.title).toBe('Container web is crash-looping');
    expect(looping?.detail).toContain('restarted 2 time(s), 2 in the last 15 min');
    // The last restart was first seen at T0+60 s: it leaves the window 15 min later.
    expect(web(2, T0 + 60_000 + CRASH_LOOP_WINDOW_S * 1000 - 1000)?.active).toBe(true);
    expect(web(2, T0 + 60_000 + CRASH_LOOP_WINDOW_S * 1000)?.active).toBe(false);
  });

  it('a restart loop sampled while briefly running stays active instead of flapping to RECOVERY', () => {
    const s = new ContainerSignals(settings);
    const web = (state: Partial<ContainerState>, at: number) => byKey(s.next(found(running(state)), at)).get('container:web');
    const crashed = '2026-11-22T11:59:59Z';
    expect(web({ status: 'restarting', restartCount: 3, exitCode: 3, finishedAt: crashed }, T0)?.active).toBe(true);
    // Docker zeroes State.ExitCode on start: the running sample still quotes the exit it followed.
    const between = web({ status: 'running', restartCount: 4, exitCode: 0, finishedAt: crashed }, T0 + 30_000);
    expect(between).toMatchObject({ active: true, title: 'Container web is crash-looping' });
    expect(between?.detail).toContain(`last exit code 3 at ${crashed}`);
    expect(between?.detail).not.toContain('exit code 0');
    expect(web({ status: 'running', restartCount: 4 }, T0 + 30_000 + CRASH_LOOP_WINDOW_S * 1000)?.active).toBe(false);
  });

  it('a crash loop only ever seen running never reports the exit code 0 that Docker resets on start', () => {
    const s = new ContainerSignals(settings);
    const web = (state: Partial<ContainerState>, at: number) => byKey(s.next(found(running(state)), at)).get('container:web');
    web({ restartCount: 1 }, T0);
    const unseen = web({ restartCount: 3, finishedAt: '2026-11-22T12:00:01Z' }, T0 + 2000);
    expect(unseen?.title).toBe('Container web is crash-looping');
    expect(unseen?.detail).toContain('last exited at 2026-11-22T12:00:01Z');
    expect(unseen?.detail).toContain('exit code not seen (Docker clears it on restart)');
    expect(unseen?.detail).not.toMatch(/exit code \d/);
    // Seen down once with 137 (OOM), then a newer exit only seen from the running side.
    web({ status: 'restarting', restartCount: 4, exitCode: 137, oomKilled: true, finishedAt: '2026-11-22T12:00:05Z' }, T0 + 6000);
    const newer = web({ restartCount: 5, finishedAt: '2026-11-22T12:00:09Z' }, T0 + 10_000);
    expect(newer?.detail).toContain('last exited at 2026-11-22T12:00:09Z');
    expect(newer?.detail).toContain('exit code 137 (OOM-killed) when last seen down, at 2026-11-22T12:00:05Z');
  });

  it('a restart count that drops (container recreated) starts a new history instead of hiding restarts', () => {
    const s = new ContainerSignals(settings);
    s.next(found(running({ restartCount: 40 })), T0);
    expect(byKey(s.next(found(running({ restartCount: 0 })), T0 + 1000)).get('container:web')?.active).toBe(false);
    expect(byKey(s.next(found(running({ restartCount: 2 })), T0 + 2000)).get('container:web')?.active).toBe(true);
  });

  it('health-check output is flattened, redacted and cut to a bounded size', () => {
    const s = new ContainerSignals(settings);
    const output = `check failed\nDB_PASSWORD=hunter2 Authorization: Bearer abc.def.ghi ${'x'.repeat(2000)}`;
    const state = running({
      health: { status: 'unhealthy', failingStreak: 3, lastCheck: { at: '2026-11-22T11:59:58Z', exitCode: 1, output } },
    });
    const sig = byKey(s.next(found(state), T0)).get('container:web');
    expect(sig?.active).toBe(true);
    expect(sig?.detail).toContain('3 failed check(s) in a row');
    expect(sig?.detail).toContain('check failed DB_PASSWORD=***');
    expect(sig?.detail).not.toMatch(/hunter2|abc\.def\.ghi/);
    const quoted = /"(.*)"/.exec(sig?.detail ?? '')?.[1] ?? '';
    expect(quoted.length).toBeLessThanOrEqual(HEALTH_OUTPUT_MAX_CHARS);
    expect(quoted.endsWith('…')).toBe(true);
  });

  it('exited, dead, paused and never-started containers are active with status, exit code and since when', () => {
    const s = new ContainerSignals({ ...settings, names: ['a', 'b', 'c', 'd'] });
    const lookups = new Map([
      [
        'a',
        {
          kind: 'found' as const,
          state: running({
            name: 'a',
            status: 'exited',
            exitCode: 137,
            oomKilled: true,
            finishedAt: '2026-11-22T11:50:00Z',
            restartCount: 3,
          }),
        },
      ],
      ['b', { kind: 'found' as const, state: running({ name: 'b', status: 'dead', exitCode: 1, finishedAt: '2026-11-22T11:00:00Z' }) }],
      ['c', { kind: 'found' as const, state: running({ name: 'c', status: 'paused' }) }],
      [
        'd',
        {
          kind: 'found' as const,
          state: running({ name: 'd', status: 'created', startedAt: null, error: 'OCI runtime create failed: token=abc' }),
        },
      ],
    ]);
    const got = byKey(s.next({ ok: true, lookups }, T0));
    expect(got.get('container:a')).toMatchObject({ active: true, severity: 'critical', title: 'Container a has exited' });
    expect(got.get('container:a')?.detail).toBe(
      'exited, exit code 137 (OOM-killed), at 2026-11-22T11:50:00Z (10 min ago); restarted 3 time(s)',
    );
    expect(got.get('container:b')).toMatchObject({ active: true, title: 'Container b is dead' });
    expect(got.get('container:c')).toMatchObject({ active: true, severity: 'warning', title: 'Container c is paused' });
    expect(got.get('container:d')?.detail).toBe('created, never started; engine error: OCI runtime create failed: token=***');
  });

  it('an unreachable engine is one signal; the containers keep their last verdict with re-alerts held back', () => {
    const s = new ContainerSignals({ ...settings, names: ['web', 'db'] });
    const lookups = new Map([
      ['web', { kind: 'found' as const, state: running() }],
      ['db', { kind: 'found' as const, state: running({ name: 'db', status: 'exited', exitCode: 1, finishedAt: '2026-11-22T11:00:00Z' }) }],
    ]);
    s.next({ ok: true, lookups }, T0);
    const down = s.next({ ok: false, reason: 'no answer within 5 s on /var/run/docker.sock' }, T0 + 30_000);
    expect(down.filter((x) => x.active).map((x) => x.key)).toEqual([ENGINE_KEY, 'container:db']);
    const engine = down.find((x) => x.key === ENGINE_KEY);
    expect(engine?.detail).toContain('no answer within 5 s');
    const db = down.find((x) => x.key === 'container:db');
    expect(db?.cooldownS).toBe(Number.POSITIVE_INFINITY);
    expect(db?.detail).toContain('(last reading 2026-11-22T12:00:00.000Z; engine unreachable)');
  });
});

describe('the Docker adapter', () => {
  it('offers reads only: ping, inspect, list — nothing that starts, stops, execs or writes', () => {
    const methods = Object.getOwnPropertyNames(DockerodeReader.prototype).filter((m) => m !== 'constructor');
    expect(methods.sort()).toEqual(['inspectContainer', 'listContainerNames', 'ping']);
    const reader = new DockerodeReader('/nonexistent.sock') as unknown as Record<string, unknown>;
    expect(Object.keys(reader)).toEqual([]);
  });

  it('reads Docker zero times as "never" and a missing Health as no health check', () => {
    const state = toContainerState({
      Id: 'abc',
      Name: '/web',
      RestartCount: 0,
      State: {
        Status: 'created',
        ExitCode: 0,
        Error: '',
        OOMKilled: false,
        StartedAt: '0001-01-01T00:00:00Z',
        FinishedAt: '0001-01-01T00:00:00Z',
      },
    });
    expect(state).toMatchObject({ name: 'web', startedAt: null, finishedAt: null, health: null });
    expect(() => toContainerState({ message: 'page not found' })).toThrow(/unexpected inspect answer/);
  });
});

/** A unix socket speaking HTTP like the Engine API, for the failure modes a real daemon will not show on demand. */
async function fakeEngine(
  handler: Parameters<typeof createServer>[1],
): Promise<{ socketPath: string; server: Server; close(): Promise<void> }> {
  const dir = mkdtempSync('/tmp/owd-fake-');
  const socketPath = join(dir, 'docker.sock');
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const inspectJson = (name: string) => ({
  Id: `${name}-id`,
  Name: `/${name}`,
  RestartCount: 0,
  State: {
    Status: 'running',
    ExitCode: 0,
    Error: '',
    OOMKilled: false,
    StartedAt: '2026-11-22T11:00:00Z',
    FinishedAt: '0001-01-01T00:00:00Z',
  },
});

function collectorFor(socketPath: string, overrides: Partial<Config>, concurrency?: number) {
  const config = testConfig({ dockerSock: socketPath, httpTimeoutS: 0.5, ...overrides });
  const registry = new Registry();
  const metrics = createContainerMetrics(registry);
  const collector = new ContainerCollector(config, new DockerodeReader(socketPath), { metrics, inspectConcurrency: concurrency });
  return { collector, registry };
}

describe('an engine that cannot be read never stalls the tick', () => {
  it('a socket that accepts and never answers yields the engine signal after WATCHDOG_HTTP_TIMEOUT_S', async () => {
    const dir = mkdtempSync('/tmp/owd-fake-');
    const socketPath = join(dir, 'docker.sock');
    const held: Socket[] = [];
    const silentServer = createNetServer((sock) => held.push(sock));
    await new Promise<void>((resolve) => silentServer.listen(socketPath, resolve));
    try {
      const { collector, registry } = collectorFor(socketPath, { containers: ['web', 'db', 'cache'] });
      const started = Date.now();
      const signals = await collector.collect(ctxAt(T0));
      const tookMs = Date.now() - started;
      expect(tookMs).toBeGreaterThanOrEqual(450);
      expect(tookMs).toBeLessThan(1500);
      expect(signals.map((s) => [s.key, s.active])).toEqual([[ENGINE_KEY, true]]);
      expect(signals[0]?.detail).toContain(`no answer within 0.5 s on ${socketPath}`);
      expect(await registry.metrics()).toContain('orch_watchdog_docker_up 0');
    } finally {
      for (const sock of held) sock.destroy();
      await new Promise<void>((resolve) => silentServer.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an engine that answers /_ping but hangs on inspects is one engine signal, not N container alerts', async () => {
    const engine = await fakeEngine((req, res) => {
      if (req.url?.endsWith('/_ping')) res.end('OK');
      // inspects are never answered
    });
    try {
      const { collector } = collectorFor(engine.socketPath, { containers: ['web', 'db', 'cache'] });
      const started = Date.now();
      const signals = await collector.collect(ctxAt(T0));
      expect(Date.now() - started).toBeLessThan(1500);
      expect(signals.filter((s) => s.active).map((s) => s.key)).toEqual([ENGINE_KEY]);
      expect(signals[0]?.detail).toMatch(/^inspect of web, db, cache failed: no answer within 0\.5 s/);
    } finally {
      await engine.close();
    }
  });

  it('an engine that fails mid-pass is not hammered with the remaining inspects', async () => {
    let inspects = 0;
    const engine = await fakeEngine((req, res) => {
      if (req.url?.endsWith('/_ping')) return void res.end('OK');
      inspects += 1;
      req.socket.destroy(); // the daemon died between ping and inspect
    });
    try {
      const { collector } = collectorFor(engine.socketPath, { containers: ['a1', 'a2', 'a3', 'a4', 'a5'] }, 1);
      const signals = await collector.collect(ctxAt(T0));
      expect(inspects).toBe(1);
      expect(signals.map((s) => [s.key, s.active])).toEqual([[ENGINE_KEY, true]]);
      expect(signals[0]?.detail).toMatch(/^inspect of a1, a2, a3, a4, a5 failed: /);
    } finally {
      await engine.close();
    }
  });

  // Incident guarded: Docker answers had no size cap (an endless inspect answer took RSS to ~470 MB).
  it('an endless inspect answer is cut at the cap and reported, not buffered', async () => {
    let sentBytes = 0;
    const engine = await fakeEngine((req, res) => {
      if (req.url?.endsWith('/_ping')) return void res.end('OK');
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      const pump = (): void => {
        while (!res.destroyed && sentBytes < 64 * 1024 * 1024 && res.write(chunk)) sentBytes += chunk.length;
        if (!res.destroyed && sentBytes < 64 * 1024 * 1024) res.once('drain', pump);
      };
      res.write('{"Id":"');
      pump();
    });
    try {
      const { collector } = collectorFor(engine.socketPath, { containers: ['web'], httpTimeoutS: 5 });
      const signals = await collector.collect(ctxAt(T0));
      expect(signals.map((s) => [s.key, s.active])).toEqual([[ENGINE_KEY, true]]);
      expect(signals[0]?.detail).toMatch(`response body exceeds ${DOCKER_ANSWER_MAX_BYTES} bytes`);
      expect(sentBytes).toBeLessThan(32 * 1024 * 1024);
    } finally {
      await engine.close();
    }
  });

  it('no socket at the configured path says so', async () => {
    const { collector } = collectorFor('/tmp/owd-none/docker.sock', { containers: ['web'] });
    const [engine] = await collector.collect(ctxAt(T0));
    expect(engine).toMatchObject({ key: ENGINE_KEY, active: true });
    expect(engine?.detail).toContain('no socket at /tmp/owd-none/docker.sock');
  });

  it(`inspects run concurrently but never more than the cap at once`, async () => {
    let inFlight = 0;
    let peak = 0;
    const engine = await fakeEngine((req, res) => {
      if (req.url?.endsWith('/_ping')) return void res.end('OK');
      const name = decodeURIComponent(/\/containers\/([^/]+)\/json/.exec(req.url ?? '')?.[1] ?? '');
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      setTimeout(() => {
        inFlight -= 1;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(inspectJson(name)));
      }, 40);
    });
    try {
      const names = Array.from({ length: 20 }, (_, i) => `svc-${i}`);
      const { collector } = collectorFor(engine.socketPath, { containers: names, httpTimeoutS: 5 }, 4);
      // the first pass also loads dockerode: a one-off, not what is measured
      await collector.collect(ctxAt(T0));
      peak = 0;
      const started = Date.now();
      const signals = await collector.collect(ctxAt(T0));
      expect(signals.filter((s) => s.active)).toEqual([]);
      expect(signals).toHaveLength(21);
      expect(peak).toBe(4);
      // 20 inspects of 40 ms, 4 at a time: about 5 rounds, far from 20 sequential ones.
      expect(Date.now() - started).toBeLessThan(20 * 40);
    } finally {
      await engine.close();
    }
  });
});

describe('a real Docker Engine (private dockerd)', () => {
  let dockerd: Dockerd;
  let image: string;
  let webId: string;

  const waitForDocker = (what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> =>
    waitFor(what, check, { timeoutMs, intervalMs: 200, describe: () => dockerd.logTail(20) });
  const state = async (name: string, format: string) => (await dockerd.docker(['inspect', '-f', format, name])).stdout.trim();

  beforeAll(async () => {
    dockerd = await startDockerd();
    image = await importBusyboxImage(dockerd);
    const run = (args: string[]) => dockerd.dockerOk(['run', '-d', '--network', 'none', ...args]);
    // --init: the host's docker-init forwards SIGTERM, so halting the daemon takes ~1 s, not 10.
    webId = (
      await run([
        '--name',
        'web',
        '--init',
        '--restart',
        'always',
        '--health-cmd',
        'true',
        '--health-interval',
        '1s',
        image,
        'sleep',
        '1000',
      ])
    ).trim();
    await run([
      '--name',
      'sick',
      '--init',
      '--health-interval',
      '1s',
      '--health-retries',
      '1',
      '--health-cmd',
      `echo "db check failed password=hunter2 $(printf 'x%.0s' $(seq 1 600))"; exit 1`,
      image,
      'sleep',
      '1000',
    ]);
    await dockerd.docker(['run', '--network', 'none', '--name', 'stopped', image, 'sh', '-c', 'exit 7']);
    await dockerd.dockerOk(['create', '--network', 'none', '--name', 'proj-ghost-1', image, 'true']);
    await waitForDocker(
      'web healthy and sick unhealthy',
      async () =>
        (await state('web', '{{.State.Health.Status}}')) === 'healthy' && (await state('sick', '{{.State.Health.Status}}')) === 'unhealthy',
    );
  });

  afterAll(async () => {
    await dockerd?.stop();
  });

  it('reports healthy, unhealthy, stopped and missing containers with what an operator needs', async () => {
    const idPrefix = webId.slice(0, 6);
    const names = ['web', 'sick', 'stopped', 'ghost', idPrefix];
    const { collector, registry } = collectorFor(dockerd.socketPath, { containers: names, httpTimeoutS: 5 });
    const got = byKey(await collector.collect(ctxAt(Date.now())));
    expect([...got.keys()]).toEqual([ENGINE_KEY, ...names.map((n) => `container:${n}`)]);
    expect(got.get(ENGINE_KEY)).toMatchObject({ active: false });
    expect(got.get(ENGINE_KEY)?.detail).toContain('5 container(s) checked');

    expect(got.get('container:web')).toMatchObject({ active: false, title: 'Container web' });
    expect(got.get('container:web')?.detail).toMatch(/^running, healthy; running since \S+ \(\d+ s ago\); restarted 0 time\(s\)$/);

    const sick = got.get('container:sick');
    expect(sick).toMatchObject({ active: true, severity: 'critical', title: 'Container sick is unhealthy' });
    expect(sick?.detail).toContain('exited 1: "db check failed password=*** xxx');
    expect(sick?.detail).not.toContain('hunter2');
    expect(sick?.detail.length).toBeLessThan(HEALTH_OUTPUT_MAX_CHARS + 250);

    expect(got.get('container:stopped')).toMatchObject({ active: true, title: 'Container stopped has exited' });
    expect(got.get('container:stopped')?.detail).toMatch(/^exited, exit code 7, at \S+Z \(\d+ s ago\); restarted 0 time\(s\)$/);

    expect(got.get('container:ghost')).toMatchObject({ active: true, title: 'Container ghost not found' });
    expect(got.get('container:ghost')?.detail).toBe('no container is named "ghost"; similar names: proj-ghost-1');
    // The engine resolves ID prefixes too; a watched name must match a container's name exactly.
    expect(got.get(`container:${idPrefix}`)).toMatchObject({ active: true, title: `Container ${idPrefix} not found` });

    expect(await registry.metrics()).toContain('orch_watchdog_docker_up 1');
  });

  it('WATCHDOG_CONTAINERS is wired into the app: GET /signals and orch_watchdog_docker_up after a tick', async () => {
    const app = await testApp(
      { containers: ['web', 'stopped'], dockerSock: dockerd.socketPath, httpTimeoutS: 5 },
      { collectors: undefined },
    );
    try {
      await app.ctx.watchdog.tick();
      const body = (await app.inject('/signals')).json<{ signals: { key: string; active: boolean }[] }>();
      const containers = body.signals.filter((s) => s.key.startsWith('container:')).map((s) => [s.key, s.active]);
      expect(containers).toEqual([
        [ENGINE_KEY, false],
        ['container:web', false],
        ['container:stopped', true],
      ]);
      expect((await app.inject('/metrics')).body).toContain('orch_watchdog_docker_up 1');
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: (await app.inject('/metrics')).body, encoding: 'utf8' });
      expect(lint.stdout + lint.stderr).toBe('');
    } finally {
      await app.close();
    }
  });

  it('a restart loop (--restart always on a command that exits 3) is active once its restart count keeps rising', async () => {
    await dockerd.dockerOk(['run', '-d', '--network', 'none', '--name', 'loop2', '--restart', 'always', image, 'sh', '-c', 'exit 3']);
    const { collector } = collectorFor(dockerd.socketPath, { containers: ['loop2'], httpTimeoutS: 5 });
    // Tick until a tick has caught the container down (the only time Docker holds its exit code)
    // and the count has risen twice in the window; every tick, running or not, is kept.
    const ticks: Signal[] = [];
    await waitForDocker(
      'a tick that saw the loop down, after two restarts',
      async () => {
        const sig = byKey(await collector.collect(ctxAt(Date.now()))).get('container:loop2');
        if (sig !== undefined) ticks.push(sig);
        return /exit code \d/.test(sig?.detail ?? '') && /, [2-9]\d* in the last 15 min/.test(sig?.detail ?? '');
      },
      60_000,
    );
    const last = ticks.at(-1);
    expect(last?.active).toBe(true);
    expect(last?.title).toMatch(/^Container loop2 (is restarting|is crash-looping)$/);
    expect(last?.detail).toContain('exit code 3');
    expect(last?.detail).toMatch(/restarted [2-9]\d* time\(s\), [2-9]\d* in the last 15 min/);
    // Docker zeroes State.ExitCode on each start; no tick may pass that 0 on as the exit code.
    expect(ticks.filter((t) => /exit code (?!3\b)\d/.test(t.detail)).map((t) => t.detail)).toEqual([]);
  });

  it('the daemon stopped mid-run: one engine alert, no container flapping, no crash; recovery after restart', async () => {
    const names = ['web', 'sick', 'stopped'];
    const { collector, registry } = collectorFor(dockerd.socketPath, { containers: names, httpTimeoutS: 2 });
    const states = new AlertStates(1800);
    let now = Date.now();
    const tick = async () => {
      const signals = await collector.collect(ctxAt(now));
      return { signals, actions: states.apply(signals, now).map((d) => `${d.action} ${d.signal.key}`) };
    };

    expect((await tick()).actions).toEqual(['ALERT container:sick', 'ALERT container:stopped']);

    await dockerd.halt();
    now += 30_000;
    const down = await tick();
    expect(down.actions).toEqual([`ALERT ${ENGINE_KEY}`]);
    expect(down.signals.filter((s) => s.active).map((s) => s.key)).toEqual([ENGINE_KEY, 'container:sick', 'container:stopped']);
    expect(down.signals[0]?.detail).toMatch(/no socket at|connection refused/);
    expect(await registry.metrics()).toContain('orch_watchdog_docker_up 0');

    // Past the cooldown: the engine re-alerts, the frozen container verdicts do not.
    now += 1800_000;
    expect((await tick()).actions).toEqual([`REALERT ${ENGINE_KEY}`]);

    await dockerd.restart();
    await waitForDocker('web running again (restart policy)', async () => (await state('web', '{{.State.Status}}')) === 'running');
    now += 30_000;
    const back = await tick();
    // The reminders held back during the outage come due now; nothing is a new ALERT.
    expect(back.actions).toEqual([`RECOVERY ${ENGINE_KEY}`, 'REALERT container:sick', 'REALERT container:stopped']);
    expect(byKey(back.signals).get('container:web')?.active).toBe(false);
    // sick had no restart policy: the daemon stop left it exited, still a problem under the same key.
    expect(byKey(back.signals).get('container:sick')?.title).toBe('Container sick has exited');
    expect(await registry.metrics()).toContain('orch_watchdog_docker_up 1');
  });
});

// dockerode reads DOCKER_HOST (and DOCKER_CERT_PATH, ssh settings) from the environment by default.
describe('WATCHDOG_DOCKER_SOCK is the socket read, whatever DOCKER_HOST says', () => {
  it('a DOCKER_HOST=tcp://… in the environment does not redirect the reads', async () => {
    const engine = await fakeEngine((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url?.endsWith('/_ping')) return void res.end('OK');
      res.end(JSON.stringify(inspectJson('web')));
    });
    const saved = { host: process.env.DOCKER_HOST, tls: process.env.DOCKER_TLS_VERIFY };
    process.env.DOCKER_HOST = 'tcp://127.0.0.1:9';
    process.env.DOCKER_TLS_VERIFY = '1';
    try {
      const { collector } = collectorFor(engine.socketPath, { containers: ['web'], httpTimeoutS: 2 });
      const signals = await collector.collect(ctxAt(T0));
      expect(signals.map((s) => [s.key, s.active])).toEqual([
        [ENGINE_KEY, false],
        ['container:web', false],
      ]);
    } finally {
      for (const [key, value] of [
        ['DOCKER_HOST', saved.host],
        ['DOCKER_TLS_VERIFY', saved.tls],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      await engine.close();
    }
  });
});

// The socket is root on the host: a watchdog that only observes must never send a write to it.
describe('on the wire, the Docker adapter only reads', () => {
  it('a full pass (ping, inspects, a missing name that triggers the list) sends nothing but GET', async () => {
    const seen: string[] = [];
    const engine = await fakeEngine((req, res) => {
      seen.push(`${req.method} ${(req.url ?? '').replace(/^\/v[\d.]+/, '')}`);
      res.setHeader('content-type', 'application/json');
      if (req.url?.endsWith('/_ping')) return void res.end('OK');
      if (req.url?.includes('/containers/json')) return void res.end(JSON.stringify([{ Names: ['/web'] }]));
      const name = decodeURIComponent(/\/containers\/([^/]+)\/json/.exec(req.url ?? '')?.[1] ?? '');
      if (name !== 'web') return void res.writeHead(404).end(JSON.stringify({ message: `No such container: ${name}` }));
      res.end(JSON.stringify(inspectJson(name)));
    });
    try {
      const { collector } = collectorFor(engine.socketPath, { containers: ['web', 'gone'], httpTimeoutS: 2 });
      for (let i = 0; i < 3; i += 1) await collector.collect(ctxAt(T0 + i * 30_000));
      expect(seen.some((s) => s.includes('/containers/json'))).toBe(true);
      expect(seen.length).toBeGreaterThanOrEqual(9);
      expect(seen.filter((s) => !s.startsWith('GET ') && !s.startsWith('HEAD '))).toEqual([]);
    } finally {
      await engine.close();
    }
  });
});
