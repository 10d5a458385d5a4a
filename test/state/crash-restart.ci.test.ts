import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { procState } from '../support/adversarial.js';
import { userOwnedDir } from '../support/merge-gate.js';
import { isAlive, killServer, killWorkingIn, listening, spawnServer, type SpawnedServer } from '../support/server-process.js';
import { waitFor } from '../support/wait-for.js';

const TOKEN = 'crash-restart-token';
const servers: SpawnedServer[] = [];
let dir: string;
let stateFile: string;

const env = (): Record<string, string> => ({
  WATCHDOG_PORT: '0',
  WATCHDOG_TICK_S: '0.5',
  WATCHDOG_STATE_FILE: stateFile,
  WATCHDOG_API_TOKEN: TOKEN,
  WATCHDOG_KILL_GRACE_S: '1',
  // the suite itself loads the machine: the gate must not hold these re-tests for pressure
  WATCHDOG_MERGE_MAX_CPU_PRESSURE: '100',
});

async function start(opts: { keepZombie?: boolean } = {}): Promise<SpawnedServer> {
  const server = await spawnServer(env(), opts);
  servers.push(server);
  return server;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'owd-crash-'));
  stateFile = join(dir, 'state.json');
});

const checkouts: string[] = [];

afterAll(async () => {
  for (const s of servers) killServer(s);
  for (const c of checkouts) {
    killWorkingIn(c);
    await rm(c, { recursive: true, force: true });
  }
  await rm(dir, { recursive: true, force: true });
});

/** Starts, or ends on its own first (a refusal): which came first. */
async function listensOrExits(server: SpawnedServer): Promise<'listening' | number | null> {
  return listening(server).then(
    () => 'listening' as const,
    () => server.exited,
  );
}

describe('one state file, one watchdog', () => {
  it('a second watchdog on the same state file exits 75 naming the pid that holds it; right after the first is killed -9 a new one starts', async () => {
    const first = await start();
    const address = await listening(first);
    const second = await start();
    expect(await listensOrExits(second)).toBe(75);
    expect(second.out()).toMatch(new RegExp(`locked by another orch-watchdog \\(pid ${first.pid}\\)`));
    expect((await readFile(`${stateFile}.lock`, 'utf8')).trim()).toBe(String(first.pid));
    // the first one goes on working (/healthz turns 200 once its first tick finished)
    await waitFor('the first server healthy', async () => (await fetch(`${address}/healthz`)).status === 200, { timeoutMs: 30_000 });

    first.child.kill('SIGKILL');
    await first.exited;
    const third = await start();
    expect(await listensOrExits(third)).toBe('listening');
    expect((await readFile(`${stateFile}.lock`, 'utf8')).trim()).toBe(String(third.pid));
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  }, 120_000);
});

describe('kill -9 while a re-test runs, and a restart while the dead watchdog is still a zombie', () => {
  it('the orphaned tree is ended before the attempt runs again, and the attempt runs once', async () => {
    const cwd = userOwnedDir('owd-crash-gate-');
    checkouts.push(cwd);
    // Each start records itself and whether a process of an earlier start is still running beside it.
    const script = [
      'for p in $(cat tree.pids 2>/dev/null); do',
      '  s=$(sed "s/.*) //" /proc/$p/stat 2>/dev/null | cut -c1)',
      '  [ -n "$s" ] && [ "$s" != Z ] && echo "$p" >> overlap',
      'done',
      "sh -c 'echo $$ >> tree.pids; exec sleep 600' &",
      'echo $$ >> tree.pids; echo $$ >> starts',
      'while [ ! -e go ]; do sleep 0.2; done; echo "1 passed"',
    ].join('\n');
    const a = await start({ keepZombie: true });
    const address = await listening(a);
    const res = await fetch(`${address}/merge-gate/retests`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ repo: 'r', branch: 'feat', cwd, command: ['/bin/sh', '-c', script], timeout_s: 600 }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const treePids = async (): Promise<number[]> =>
      (await readFile(join(cwd, 'tree.pids'), 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
    await waitFor('the tree up (leader and child)', async () => (await treePids()).length === 2, { timeoutMs: 60_000 });
    await waitFor(
      'the state file saw it running, with its tree',
      async () => {
        const text = await readFile(stateFile, 'utf8').catch(() => '');
        return text.includes(`"id":"${id}"`) && text.includes('"status":"running"') && text.includes('"tree"');
      },
      { timeoutMs: 30_000 },
    );
    const orphans = await treePids();

    process.kill(a.pid, 'SIGKILL');
    await waitFor('the dead watchdog to be a zombie', () => procState(a.pid) === 'Z');
    const b = await start();
    const addressB = await listening(b);
    // the restart happened while the old watchdog was still a zombie (its parent has not reaped it)
    expect(procState(a.pid)).toBe('Z');
    await waitFor('the orphaned tree ended', () => orphans.every((p) => !isAlive(p)), { timeoutMs: 30_000, describe: b.out });
    await waitFor('the attempt started again', async () => (await treePids()).length === 4, { timeoutMs: 60_000, describe: b.out });
    await writeFile(join(cwd, 'go'), '');
    const cut = (await (await fetch(`${addressB}/merge-gate/retests/${id}`)).json()) as { requeued_as: string };
    expect(cut).toMatchObject({ status: 'done', outcome: 'timeout', decision: 'requeue' });
    await waitFor(
      'the attempt passes',
      async () =>
        ((await (await fetch(`${addressB}/merge-gate/retests/${cut.requeued_as}`)).json()) as { outcome?: string }).outcome === 'pass',
      { timeoutMs: 60_000, describe: b.out },
    );
    expect(existsSync(join(cwd, 'overlap'))).toBe(false);
    expect((await readFile(join(cwd, 'starts'), 'utf8')).trim().split('\n')).toHaveLength(2);
    expect(b.out()).toContain('killed the tree of a re-test left running by a watchdog that died');
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
  }, 240_000);
});
