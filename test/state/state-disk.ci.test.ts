import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { userOwnedDir } from '../support/merge-gate.js';
import { killServer, killWorkingIn, listening, spawnServer, type SpawnedServer } from '../support/server-process.js';
import { mountTmpfs } from '../support/tmpfs.js';
import { waitFor } from '../support/wait-for.js';

const TOKEN = 'state-disk-token';
const servers: SpawnedServer[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

afterAll(async () => {
  for (const s of servers) killServer(s);
  for (const c of cleanups.reverse()) await c();
});

async function start(stateFile: string): Promise<{ server: SpawnedServer; address: string }> {
  const server = await spawnServer({
    WATCHDOG_PORT: '0',
    WATCHDOG_TICK_S: '1',
    WATCHDOG_HTTP_TIMEOUT_S: '1',
    WATCHDOG_STATE_FILE: stateFile,
    WATCHDOG_API_TOKEN: TOKEN,
    WATCHDOG_MERGE_MAX_CPU_PRESSURE: '100',
  });
  servers.push(server);
  return { server, address: await listening(server) };
}

interface StateHealth {
  ok: boolean;
  last_saved_at: string | null;
  error: string | null;
}
const stateHealth = async (address: string): Promise<StateHealth> =>
  ((await (await fetch(`${address}/healthz`)).json()) as { state: StateHealth }).state;

describe('WATCHDOG_STATE_FILE names a directory', () => {
  it('is refused (not renamed aside): memory only, said in /healthz, and the exit code says nothing was saved', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'owd-state-dir-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const stateFile = join(dir, 'state.json');
    await mkdir(stateFile);
    await writeFile(join(stateFile, 'precious'), 'kept');
    const { server, address } = await start(stateFile);
    expect(await readdir(dir)).toEqual(['state.json']);
    expect(await stateHealth(address)).toEqual({ ok: false, last_saved_at: null, error: expect.stringMatching(/names a directory/) });
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(74);
    expect(await readdir(dir)).toEqual(['state.json']);
    expect(await readFile(join(stateFile, 'precious'), 'utf8')).toBe('kept');
  }, 60_000);
});

describe('a full disk under the state file (a 64 KiB tmpfs, filled)', () => {
  it('no temp file is left by failed saves, /healthz and /metrics say so, the save is retried once there is room, and a shutdown that cannot save exits 74 naming what is lost', async () => {
    const disk = mountTmpfs(64);
    cleanups.push(() => disk.unmount());
    const cwd = userOwnedDir('owd-state-disk-');
    cleanups.push(() => rm(cwd, { recursive: true, force: true }));
    cleanups.push(() => killWorkingIn(cwd));
    const stateFile = join(disk.dir, 'state.json');
    const { server, address } = await start(stateFile);
    const post = async (n: number): Promise<void> => {
      const res = await fetch(`${address}/merge-gate/retests`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ repo: 'r', branch: `b${n}`, cwd, command: ['/bin/sh', '-c', 'while [ ! -e go ]; do sleep 0.2; done'] }),
      });
      expect(res.status).toBe(202);
    };
    await waitFor('a first save', () => existsSync(stateFile), { timeoutMs: 20_000 });

    disk.fill();
    for (let n = 1; n <= 4; n++) await post(n);
    await waitFor('a failed save', () => server.out().includes('state file write failed'), { timeoutMs: 20_000, describe: server.out });
    expect((await readdir(disk.dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const failures = async (): Promise<number> =>
      Number(/^orch_watchdog_state_save_failures_total (\d+)$/m.exec(await (await fetch(`${address}/metrics`)).text())?.[1] ?? 0);
    await waitFor('three failed saves', async () => (await failures()) >= 3, { timeoutMs: 30_000 });
    expect((await readdir(disk.dir)).sort()).toEqual(['filler', 'state.json', 'state.json.lock']);
    expect(await stateHealth(address)).toMatchObject({ ok: false, error: expect.stringMatching(/ENOSPC/) });
    expect(await (await fetch(`${address}/metrics`)).text()).toMatch(/^orch_watchdog_state_ok 0$/m);

    disk.free();
    await waitFor('the retried save', async () => (await stateHealth(address)).ok, { timeoutMs: 20_000 });
    const saved = JSON.parse(await readFile(stateFile, 'utf8')) as { sections: { 'merge-gate': { jobs: unknown[] } } };
    expect(saved.sections['merge-gate'].jobs).toHaveLength(4);

    disk.fill();
    await post(5);
    await waitFor('the save failing again', async () => !(await stateHealth(address)).ok, { timeoutMs: 20_000 });
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(74);
    expect(server.out()).toMatch(/state file not saved at shutdown \(ENOSPC[^)]*\).*of 5 queued re-tests/);
    expect((await readdir(disk.dir)).sort()).toEqual(['filler', 'state.json', 'state.json.lock']);
  }, 180_000);
});
