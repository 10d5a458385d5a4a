import { mkdtempSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { capturedLog } from '../support/notify.js';
import { RecordingNotifier, testApp } from '../support/app.js';
import { userOwnedDir } from '../support/merge-gate.js';
import { killServer, listening, spawnServer, type SpawnedServer } from '../support/server-process.js';
import { waitFor } from '../support/wait-for.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
// module-level: the case table below is built from them
const dir = mkdtempSync(join(tmpdir(), 'owd-crafted-'));
const checkout = userOwnedDir('owd-crafted-checkout-');
const apps: FastifyInstance[] = [];
const servers: SpawnedServer[] = [];

afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});
afterAll(async () => {
  for (const s of servers) killServer(s);
  await rm(dir, { recursive: true, force: true });
  await rm(checkout, { recursive: true, force: true });
});

const signal = (family: string, entity: string | null = null) => ({
  key: entity === null ? family : `${family}:${entity}`,
  family,
  entity,
  active: true,
  severity: 'critical',
  title: `${family} down`,
  detail: 'seen',
});
const alertState = (family: string) => ({
  key: family,
  family,
  entity: null,
  alerting: true,
  lastAlertAt: NOW,
  lastSignal: signal(family),
});
const run = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  repo: 'r',
  branch: 'b',
  status: 'done',
  outcome: 'pass',
  decision: 'merge',
  attempt: 1,
  queuedAt: NOW,
  finishedAt: NOW,
  ...extra,
});
const request = (extra: Record<string, unknown> = {}) => ({ repo: 'r', branch: 'b', cwd: checkout, command: ['true'], ...extra });
const queuedRun = (id: string) => run(id, { status: 'queued', outcome: undefined, decision: undefined, finishedAt: undefined });

/** A state file whose every section holds one good entry, plus what the case adds. */
function stateDoc(crafted: { history?: unknown[]; jobs?: unknown[]; alerts?: unknown[]; undelivered?: unknown[]; gate?: object }) {
  return JSON.stringify({
    format: 'orch-watchdog-state',
    version: 1,
    saved_at: new Date(NOW).toISOString(),
    sections: {
      'alert-states': [alertState('host_mem'), ...(crafted.alerts ?? [])],
      undelivered: {
        recording: [{ action: 'ALERT', signal: signal('dep_down', 'api'), at: NOW, host: 'h' }, ...(crafted.undelivered ?? [])],
      },
      'merge-gate': {
        jobs: crafted.jobs ?? [],
        history: [run('good'), ...(crafted.history ?? [])],
        counters: { runsTotal: 1, infraRequeues: 0, infraExhausted: 0, outcomes: { pass: 1 } },
        ledger: [],
        ...crafted.gate,
      },
    },
  });
}

interface Case {
  name: string;
  crafted: Parameters<typeof stateDoc>[0];
  /** The log names this entry as dropped (null: nothing is dropped, the entry is ended instead). */
  dropped: [string, RegExp] | null;
  /** What GET /merge-gate/retests/crafted answers. */
  crafted_run: number | Record<string, unknown>;
  config?: Partial<Config>;
}

const CASES: Case[] = [
  {
    name: 'queuedAt 1e20 (was a 500: Invalid time value)',
    crafted: { history: [run('crafted', { queuedAt: 1e20 })] },
    dropped: ['history[1]', /^queuedAt: /],
    crafted_run: 404,
  },
  {
    name: 'lock holders of the wrong shape (was a 500)',
    crafted: { history: [run('crafted', { lockHolders: [{ pid: 'x' }] })] },
    dropped: ['history[1]', /^lockHolders\.0\.pid: /],
    crafted_run: 404,
  },
  {
    name: 'a negative finish time',
    crafted: { history: [run('crafted', { finishedAt: -1 })] },
    dropped: ['history[1]', /^finishedAt: /],
    crafted_run: 404,
  },
  {
    name: 'an unknown outcome',
    crafted: { history: [run('crafted', { outcome: 'bogus' })] },
    dropped: ['history[1]', /^outcome: /],
    crafted_run: 404,
  },
  {
    name: 'a run id with a space',
    crafted: { history: [run('cra fted')] },
    dropped: ['history[1]', /^id: must be a run id/],
    crafted_run: 404,
  },
  {
    name: 'a done run without an outcome',
    crafted: { history: [run('crafted', { outcome: undefined })] },
    dropped: ['history[1]', /^outcome: a finished run has an outcome/],
    crafted_run: 404,
  },
  {
    name: '"running" with no job (stayed running forever): ended timeout / repost',
    crafted: { history: [run('crafted', { status: 'running', outcome: undefined, decision: undefined, finishedAt: undefined })] },
    dropped: null,
    crafted_run: { status: 'done', outcome: 'timeout', decision: 'repost' },
  },
  {
    name: '"queued" with no job: ended cancelled / repost',
    crafted: { history: [queuedRun('crafted')] },
    dropped: null,
    crafted_run: { status: 'done', outcome: 'cancelled', decision: 'repost' },
  },
  ...(
    [
      ['a relative cwd', { cwd: 'checkout' }, /^request\.cwd: must be an absolute path/],
      ['a cwd that does not exist', { cwd: '/nonexistent/checkout' }, /^request\.cwd: must be an existing directory/],
      ['an empty command', { command: [] }, /^request\.command: must be a non-empty argv array/],
      ['a NUL in the command', { command: ['tr\0ue'] }, /^request\.command\.0: must not contain NUL/],
      ['a timeout above 86400 s', { timeoutS: 1e9 }, /^request\.timeoutS: must be at most 86400/],
      [
        'a validated sha that is not hex',
        { validatedSha: 'not-a-sha' },
        /^request\.validatedSha: must be a 7\.\.64 character hex commit id/,
      ],
      ['an empty repo', { repo: ' ' }, /^request\.repo: must be a non-empty string/],
      ['a field POST does not know', { shell: true }, /^request: /],
      ['an env that sets HOME', { env: { HOME: '/root' } }, /^request\.env: HOME is the account's own/],
    ] as const
  ).map(([what, field, why]): Case => ({
    name: `a saved request with ${what}: dropped as POST would refuse it; its run ends cancelled / repost`,
    crafted: { history: [queuedRun('crafted')], jobs: [{ runId: 'crafted', request: request(field) }] },
    dropped: ['jobs[0]', why],
    crafted_run: { status: 'done', outcome: 'cancelled', decision: 'repost' },
  })),
  {
    name: 'a checkout whose owner changed since the POST (saved cwdUid 0, now nobody): cancelled / repost, as at start',
    crafted: { history: [queuedRun('crafted')], jobs: [{ runId: 'crafted', request: request(), cwdUid: 0 }] },
    dropped: null,
    crafted_run: {
      status: 'done',
      outcome: 'cancelled',
      decision: 'repost',
      reason: expect.stringMatching(/now owned by uid 65534, not uid 0/),
    },
  },
  {
    name: 'a saved request whose cwd is root-owned while root is refused: cancelled / repost',
    crafted: { history: [queuedRun('crafted')], jobs: [{ runId: 'crafted', request: request({ cwd: dir }) }] },
    dropped: null,
    crafted_run: { status: 'done', outcome: 'cancelled', decision: 'repost' },
    config: { mergeAllowRoot: false },
  },
  {
    name: 'a job whose run is done',
    crafted: { history: [run('crafted')], jobs: [{ runId: 'crafted', request: request() }] },
    dropped: ['job crafted', /already done/],
    crafted_run: { outcome: 'pass' },
  },
  {
    name: 'a minimal alert state (made a tick fail)',
    crafted: { alerts: [{ key: 'orch_down', alerting: true, lastSignal: { key: 'orch_down' } }] },
    dropped: ['alert-states[1]', /^family: /],
    crafted_run: 404,
  },
  {
    name: 'an alert state whose key is not its family',
    crafted: { alerts: [{ ...alertState('orch_down'), key: 'host_mem:x' }] },
    // the server's logger reads `key: does` as a secret's name and value (over-redaction, never a leak)
    dropped: ['alert-states[1]', /^key: .*does not match family/],
    crafted_run: 404,
  },
  {
    name: 'an alert state of an edge family',
    crafted: { alerts: [alertState('job_failed')] },
    dropped: ['alert-states[1]', /edge family/],
    crafted_run: 404,
  },
  {
    name: 'an undelivered event without a signal',
    crafted: { undelivered: [{ action: 'ALERT', at: NOW, host: 'h' }] },
    dropped: ['undelivered.recording[1]', /^signal: /],
    crafted_run: 404,
  },
  {
    name: 'an undelivered event at time 1e20',
    crafted: { undelivered: [{ action: 'ALERT', signal: signal('orch_down'), at: 1e20, host: 'h' }] },
    dropped: ['undelivered.recording[1]', /^at: /],
    crafted_run: 404,
  },
  {
    name: 'negative counters: they start at zero',
    crafted: { gate: { counters: { runsTotal: -1 } } },
    dropped: ['counters', /start at zero/],
    crafted_run: 404,
  },
  {
    name: 'a ledger entry with a text count',
    crafted: { gate: { ledger: [['r', 'b', 'many']] } },
    dropped: ['ledger[0]', /^2: /],
    crafted_run: 404,
  },
];

describe('crafted state that passes the envelope: every restored value is checked as strictly as a POST', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const stateFile = join(dir, `${c.name.replace(/\W+/g, '-').slice(0, 60)}.json`);
    await writeFile(stateFile, stateDoc(c.crafted), { mode: 0o600 });
    const { log, records } = capturedLog();
    const notifier = new RecordingNotifier();
    const app = await testApp({ stateFile, mergeRequeueDelayS: 0, ...c.config }, { log, notifiers: [notifier], clock: () => NOW });
    apps.push(app);
    // the good entries are all there
    expect((await app.inject('/merge-gate/retests/good')).json()).toMatchObject({ status: 'done', outcome: 'pass' });
    expect((await app.inject('/alert-states')).json().states.map((s: { key: string }) => s.key)).toEqual(['host_mem']);
    const crafted = await app.inject('/merge-gate/retests/crafted');
    if (typeof c.crafted_run === 'number') expect(crafted.statusCode).toBe(c.crafted_run);
    else expect(crafted.json()).toMatchObject(c.crafted_run);
    const tick = await app.ctx.watchdog.tick();
    expect(tick.failed).toEqual([]);
    // after the first tick (before it /healthz is 503 by design)
    for (const url of ['/healthz', '/signals', '/alert-states', '/queue', '/metrics', '/proc/candidates'])
      expect([url, (await app.inject(url)).statusCode]).toEqual([url, 200]);
    await app.ctx.delivery.flush(5000);
    // the restored ALERT is delivered; host_mem, no longer reported by any source, recovers once
    expect(notifier.actions().sort()).toEqual(['ALERT dep_down:api', 'RECOVERY host_mem']);
    // the section was kept (not thrown away whole), and what was dropped is named with the reason
    expect(app.ctx.configWarnings).toEqual([]);
    const drops = records().filter((r) => r.msg === 'state file: dropped a malformed entry');
    if (c.dropped) expect(drops.map((r) => [r.entry, r.reason])).toEqual([[c.dropped[0], expect.stringMatching(c.dropped[1])]]);
    else expect(drops).toEqual([]);
  });

  it('a queue longer than POST allows keeps what fits (20 per repo) and ends the rest cancelled / repost', async () => {
    const stateFile = join(dir, 'long-queue.json');
    const ids = Array.from({ length: 22 }, (_, i) => `q${i}`);
    const gate = { jobs: ids.map((id) => ({ runId: id, request: request({ command: ['sleep', '600'] }) })) };
    await writeFile(stateFile, stateDoc({ history: ids.map(queuedRun), gate }), { mode: 0o600 });
    const app = await testApp({ stateFile, mergeMaxParallel: 1 }, { clock: () => NOW });
    apps.push(app);
    const ends = await Promise.all(
      ids.map(async (id) => (await app.inject(`/merge-gate/retests/${id}`)).json().outcome as string | undefined),
    );
    expect(ends.slice(0, 20)).toEqual(Array(20).fill(undefined));
    expect(ends.slice(20)).toEqual(['cancelled', 'cancelled']);
  });
});

describe('crafted state through the real server', () => {
  it('starts, routes answer 200 (or 404 for what was dropped), ticks run, the dropped entries are logged', async () => {
    const stateFile = join(dir, 'real-server.json');
    const running = run('was-running', { status: 'running', outcome: undefined, decision: undefined, finishedAt: undefined });
    const crafted = stateDoc({
      history: [run('bad-time', { queuedAt: 1e20 }), run('bad-holders', { lockHolders: [{ pid: 'x' }] }), running],
      alerts: [{ key: 'orch_down', alerting: true, lastSignal: { key: 'orch_down' } }],
    });
    await writeFile(stateFile, crafted.replace('"recording":', '"log":'), { mode: 0o600 });
    const server = await spawnServer({
      WATCHDOG_PORT: '0',
      WATCHDOG_TICK_S: '0.5',
      WATCHDOG_HTTP_TIMEOUT_S: '1',
      WATCHDOG_STATE_FILE: stateFile,
    });
    servers.push(server);
    const address = await listening(server);
    const status = async (url: string): Promise<number> => (await fetch(`${address}${url}`)).status;
    const ticks = async (): Promise<{ tick_count: number; failed_collectors: string[] }> =>
      (await fetch(`${address}/healthz`)).json() as never;
    // /healthz is 503 until the first tick finished, by design
    await waitFor('the first tick', async () => (await ticks()).tick_count >= 1, { timeoutMs: 30_000, describe: server.out });
    for (const url of [
      '/healthz',
      '/signals',
      '/alert-states',
      '/queue',
      '/metrics',
      '/merge-gate/retests/good',
      '/merge-gate/retests/was-running',
    ])
      expect([url, await status(url)]).toEqual([url, 200]);
    expect([await status('/merge-gate/retests/bad-time'), await status('/merge-gate/retests/bad-holders')]).toEqual([404, 404]);
    expect(await (await fetch(`${address}/merge-gate/retests/was-running`)).json()).toMatchObject({
      outcome: 'timeout',
      decision: 'repost',
    });
    await waitFor('four ticks', async () => (await ticks()).tick_count >= 4, { timeoutMs: 30_000, describe: server.out });
    expect((await ticks()).failed_collectors).toEqual([]);
    expect(server.out().match(/state file: dropped a malformed entry/g)).toHaveLength(3);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  }, 120_000);
});
