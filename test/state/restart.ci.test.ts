import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type LoopbackServer } from '../support/http-server.js';
import { userOwnedDir } from '../support/merge-gate.js';
import { waitFor } from '../support/wait-for.js';

const SERVER = new URL('../../dist/src/server.js', import.meta.url).pathname;

interface Running {
  child: ChildProcess;
  address: string;
  out: () => string;
}

const running: ChildProcess[] = [];
let dir: string;
let stateFile: string;
let envelope: LoopbackServer;
let receiver: LoopbackServer;
let isOrchUp = false;
let isReceiverUp = false;
const received: string[] = [];

const TOKEN = 'restart-test-token';

async function startServer(): Promise<Running> {
  const child = spawn(process.execPath, [SERVER], {
    env: {
      ...process.env,
      WATCHDOG_PORT: '0',
      WATCHDOG_TICK_S: '0.5',
      WATCHDOG_HTTP_TIMEOUT_S: '1',
      WATCHDOG_METRICS_URL: `${envelope.url}/envelope`,
      WATCHDOG_ORCH_DOWN_AFTER: '1',
      WATCHDOG_NOTIFIERS: 'log,webhook',
      WATCHDOG_WEBHOOK_URL: `${receiver.url}/hook`,
      WATCHDOG_STATE_FILE: stateFile,
      WATCHDOG_API_TOKEN: TOKEN,
      // the suite itself loads the machine: the gate must not hold these re-tests for pressure
      WATCHDOG_MERGE_MAX_CPU_PRESSURE: '100',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('the server to listen', () => /"address":"http:\/\/127\.0\.0\.1:\d+"/.test(out), {
    timeoutMs: 60_000,
    describe: () => out,
  });
  const address = /"address":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)![1]!;
  return { child, address, out: () => out };
}

async function health(r: Running): Promise<{ tick_count: number; config_warnings: { key: string; message: string }[] }> {
  return (await (await fetch(`${r.address}/healthz`)).json()) as never;
}

async function stateSections(): Promise<Record<string, unknown>> {
  try {
    return (JSON.parse(await readFile(stateFile, 'utf8')) as { sections: Record<string, unknown> }).sections;
  } catch {
    return {};
  }
}

interface WireRun {
  status: string;
  outcome?: string;
  decision?: string;
  requeued_as?: string;
  attempt: number;
}

async function postRetest(r: Running, body: object): Promise<string> {
  const res = await fetch(`${r.address}/merge-gate/retests`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

const getRun = async (r: Running, id: string): Promise<WireRun> =>
  (await (await fetch(`${r.address}/merge-gate/retests/${id}`)).json()) as WireRun;

/** Running (a zombie waiting for its reaper counts as gone). */
const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

const orchEvents = (action: string): number => received.filter((r) => r === `${action} orch_down`).length;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'orch-watchdog-state-'));
  stateFile = join(dir, 'state.json');
  envelope = await startHttpServer((req, res) => {
    if (!isOrchUp) return void req.socket.destroy();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ schema_version: 1, generated_at: Date.now() / 1000, queue: { counts: { failed: 0 } }, agents: [] }));
  });
  receiver = await startHttpServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      if (!isReceiverUp) return void res.writeHead(503).end();
      const body = JSON.parse(raw) as { action: string; key: string };
      received.push(`${body.action} ${body.key}`);
      res.writeHead(204).end();
    });
  });
});

afterAll(async () => {
  for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all([envelope?.close(), receiver?.close()]);
  await rm(dir, { recursive: true, force: true });
});

describe('WATCHDOG_STATE_FILE across real restarts of the server', () => {
  it('SIGTERM keeps the undelivered ALERT, which the next start delivers once; no duplicate ALERT; kill -9 then the RECOVERY of what ended meanwhile', async () => {
    // 1. The orchestrator is down and the receiver answers 503: the ALERT cannot be delivered.
    const a = await startServer();
    await waitFor(
      'the undelivered ALERT in the state file',
      async () => JSON.stringify((await stateSections()).undelivered ?? {}).includes('"key":"orch_down"'),
      { timeoutMs: 20_000 },
    );
    a.child.kill('SIGTERM');
    expect((await once(a.child, 'exit'))[0]).toBe(0);
    expect(orchEvents('ALERT')).toBe(0);

    // 2. Restart with the receiver back: the saved ALERT arrives once, and the still-present problem is not alerted again.
    isReceiverUp = true;
    const b = await startServer();
    await waitFor('the restored ALERT delivered', () => orchEvents('ALERT') === 1, { timeoutMs: 20_000, describe: b.out });
    const ticks = (await health(b)).tick_count;
    await waitFor('five more ticks', async () => (await health(b)).tick_count >= ticks + 5, { timeoutMs: 20_000 });
    expect(orchEvents('ALERT')).toBe(1);
    await waitFor(
      'the delivery recorded in the state file',
      async () => {
        const s = await stateSections();
        return (
          !JSON.stringify(s.undelivered ?? {}).includes('orch_down') && JSON.stringify(s['alert-states'] ?? []).includes('"alerting":true')
        );
      },
      { timeoutMs: 20_000 },
    );

    // 3. kill -9, the orchestrator comes back meanwhile: the next start sends its RECOVERY, exactly once.
    b.child.kill('SIGKILL');
    await once(b.child, 'exit');
    isOrchUp = true;
    const c = await startServer();
    await waitFor('the RECOVERY of the outage that ended while down', () => orchEvents('RECOVERY') === 1, {
      timeoutMs: 20_000,
      describe: c.out,
    });
    const ticksC = (await health(c)).tick_count;
    await waitFor('five more ticks', async () => (await health(c)).tick_count >= ticksC + 5, { timeoutMs: 20_000 });
    expect([orchEvents('ALERT'), orchEvents('RECOVERY')]).toEqual([1, 1]);
    expect((await health(c)).config_warnings).toEqual([]);
    c.child.kill('SIGTERM');
    expect((await once(c.child, 'exit'))[0]).toBe(0);
  }, 240_000);

  it('merge gate: SIGTERM re-queues the running re-test (its tree gone) and keeps the queue; the next start runs both; after kill -9 the cut attempt runs again', async () => {
    const cwd = userOwnedDir('owd-restart-gate-');
    // Sleeps until the test writes "go" into the checkout, then passes like a small suite.
    const suite = (name: string) => ['/bin/sh', '-c', `echo $$ >> ${name}.pids; while [ ! -e go ]; do sleep 0.2; done; echo "1 passed"`];
    const a = await startServer();
    const cutId = await postRetest(a, { repo: 'r1', branch: 'feat', cwd, command: suite('r1'), timeout_s: 600 });
    const queuedId = await postRetest(a, { repo: 'r2', branch: 'main', cwd, command: suite('r2'), timeout_s: 600 });
    await waitFor('the first re-test running', async () => (await getRun(a, cutId)).status === 'running', { timeoutMs: 60_000 });
    await waitFor('its pid written', () =>
      readFile(join(cwd, 'r1.pids'), 'utf8').then(
        (t) => t.trim() !== '',
        () => false,
      ),
    );
    const firstPid = Number((await readFile(join(cwd, 'r1.pids'), 'utf8')).trim());
    a.child.kill('SIGTERM');
    expect((await once(a.child, 'exit'))[0]).toBe(0);
    expect(alive(firstPid)).toBe(false);
    const saved = (await stateSections())['merge-gate'] as { jobs: { runId: string }[] };
    expect(saved.jobs).toHaveLength(2);

    await writeFile(join(cwd, 'go'), '');
    const b = await startServer();
    const cut = await getRun(b, cutId);
    expect(cut).toMatchObject({ status: 'done', outcome: 'timeout', decision: 'requeue' });
    await waitFor(
      'the re-queued attempt and the queued one pass',
      async () => {
        const [again, queued] = await Promise.all([getRun(b, cut.requeued_as!), getRun(b, queuedId)]);
        return again.outcome === 'pass' && queued.outcome === 'pass';
      },
      { timeoutMs: 60_000 },
    );
    expect(await getRun(b, cut.requeued_as!)).toMatchObject({ decision: 'merge', attempt: 1 });
    const queue = (await (await fetch(`${b.address}/queue`)).json()) as { merge_gate: { runs_total: number; queued: number } };
    expect(queue.merge_gate).toMatchObject({ runs_total: 2, queued: 0 });

    // kill -9 while a re-test runs: the periodic write saw it running; the next start runs that attempt again.
    await rm(join(cwd, 'go'));
    const crashedId = await postRetest(b, { repo: 'r3', branch: 'feat', cwd, command: suite('r3'), timeout_s: 600 });
    await waitFor(
      'the running re-test in the state file',
      async () => {
        const history = ((await stateSections())['merge-gate'] as { history: { id: string; status: string }[] } | undefined)?.history ?? [];
        return history.some((r) => r.id === crashedId && r.status === 'running');
      },
      { timeoutMs: 30_000 },
    );
    b.child.kill('SIGKILL');
    await once(b.child, 'exit');
    // a kill -9 leaves the tree behind in the dead watchdog's run cgroup: the next start ends it before re-running
    const orphans = (await readFile(join(cwd, 'r3.pids'), 'utf8')).trim().split('\n').map(Number);
    expect(orphans.filter(alive)).toEqual(orphans);
    const c = await startServer();
    await waitFor('the orphaned tree ended by the restarted watchdog', () => orphans.every((pid) => !alive(pid)), {
      timeoutMs: 30_000,
      describe: c.out,
    });
    // logged once the stale cgroup is removed too, a moment after its members died
    await waitFor(
      'the stale-run kill logged',
      () => c.out().includes('killed the tree of a re-test left running by a watchdog that died'),
      {
        timeoutMs: 30_000,
        describe: c.out,
      },
    );
    await writeFile(join(cwd, 'go'), '');
    const crashed = await getRun(c, crashedId);
    expect(crashed).toMatchObject({ status: 'done', outcome: 'timeout', decision: 'requeue' });
    await waitFor('the cut attempt passes after the restart', async () => (await getRun(c, crashed.requeued_as!)).outcome === 'pass', {
      timeoutMs: 60_000,
    });
    c.child.kill('SIGTERM');
    expect((await once(c.child, 'exit'))[0]).toBe(0);
    await rm(cwd, { recursive: true, force: true });
  }, 240_000);

  it.each([
    ['corrupt', '{"format":"orch-watchdog-state","version":1,"sections":{"alert-st'],
    ['foreign-version', JSON.stringify({ format: 'orch-watchdog-state', version: 99, sections: {} })],
    ['foreign file', JSON.stringify({ hello: 'world' })],
  ])(
    'a %s file is a warning, is moved aside, and the server starts fresh (no crash loop)',
    async (_kind, content) => {
      await writeFile(stateFile, content);
      const d = await startServer();
      const h = await health(d);
      expect(h.config_warnings.map((w) => w.key)).toContain('WATCHDOG_STATE_FILE');
      expect((await readdir(dir)).some((f) => f.startsWith('state.json.unusable-'))).toBe(true);
      await waitFor('a fresh state file written', async () => JSON.stringify(await stateSections()).includes('alert-states'), {
        timeoutMs: 20_000,
      });
      d.child.kill('SIGTERM');
      expect((await once(d.child, 'exit'))[0]).toBe(0);
      for (const f of await readdir(dir)) if (f.startsWith('state.json.unusable-')) await rm(join(dir, f));
    },
    120_000,
  );
});
