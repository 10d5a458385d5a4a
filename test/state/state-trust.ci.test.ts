import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type LoopbackServer } from '../support/http-server.js';
import { killServer, killWorkingIn, listening, spawnServer, type SpawnedServer } from '../support/server-process.js';
import { waitFor } from '../support/wait-for.js';

const NOBODY = '65534';
const victim = `owd-victim-${randomBytes(3).toString('hex')}`;
const victimHome = `/home/${victim}`;
let shared: string;
let receiver: LoopbackServer;
const servers: SpawnedServer[] = [];

beforeAll(async () => {
  // A third user with a private home: the planted re-test would run as them (the owner of its cwd).
  execFileSync('useradd', ['--create-home', '--home-dir', victimHome, '--shell', '/bin/sh', victim]);
  await chmod(victimHome, 0o700);
  // A directory every local user may write, as /tmp is.
  shared = await mkdtemp(join(tmpdir(), 'owd-shared-'));
  await chmod(shared, 0o1777);
  receiver = await startHttpServer((_req, res) => res.writeHead(204).end());
});

afterAll(async () => {
  for (const s of servers) killServer(s);
  killWorkingIn(victimHome);
  execFileSync('userdel', ['--remove', victim], { stdio: 'ignore' });
  await receiver?.close();
  await rm(shared, { recursive: true, force: true });
});

const INJECTED_RUN = 'a0000000-0000-4000-8000-000000000001';

/** What another local user writes where the watchdog's state file will be: a re-test in a third user's home, and an ALERT. */
function plantedState(): string {
  const now = Date.now();
  const signal = {
    key: 'orch_down',
    family: 'orch_down',
    entity: null,
    active: true,
    severity: 'critical',
    title: 'INJECTED',
    detail: 'planted',
  };
  return JSON.stringify({
    format: 'orch-watchdog-state',
    version: 1,
    saved_at: new Date(now).toISOString(),
    sections: {
      undelivered: { webhook: [{ action: 'ALERT', signal, at: now, host: 'planted' }] },
      'merge-gate': {
        jobs: [{ runId: INJECTED_RUN, request: { repo: 'x', branch: 'y', cwd: victimHome, command: ['/bin/sh', '-c', 'id > pwned'] } }],
        history: [{ id: INJECTED_RUN, repo: 'x', branch: 'y', status: 'queued', attempt: 1, queuedAt: now }],
        counters: { runsTotal: 0, infraRequeues: 0, infraExhausted: 0, outcomes: {} },
        ledger: [],
      },
    },
  });
}

describe('a state file another local user planted in a world-writable directory', () => {
  it('is refused: memory only, said in the log and /healthz, nothing of it runs or is delivered, and it is left untouched', async () => {
    const stateFile = join(shared, 'state.json');
    // written by the other user (nobody), for real
    execFileSync(
      'setpriv',
      [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '/bin/sh', '-c', 'umask 022; cat > "$0"', stateFile],
      {
        input: plantedState(),
      },
    );
    const planted = await readFile(stateFile, 'utf8');
    const server = await spawnServer({
      WATCHDOG_PORT: '0',
      WATCHDOG_TICK_S: '0.5',
      WATCHDOG_HTTP_TIMEOUT_S: '1',
      WATCHDOG_STATE_FILE: stateFile,
      WATCHDOG_API_TOKEN: 'trust-test-token',
      WATCHDOG_NOTIFIERS: 'log,webhook',
      WATCHDOG_WEBHOOK_URL: `${receiver.url}/hook`,
      WATCHDOG_MERGE_MAX_CPU_PRESSURE: '100',
    });
    servers.push(server);
    const address = await listening(server);
    await waitFor(
      'four ticks',
      async () => ((await (await fetch(`${address}/healthz`)).json()) as { tick_count: number }).tick_count >= 4,
      {
        timeoutMs: 30_000,
      },
    );
    expect(existsSync(join(victimHome, 'pwned'))).toBe(false);
    expect(receiver.received.filter((r) => r.body.includes('INJECTED'))).toEqual([]);
    expect((await fetch(`${address}/merge-gate/retests/${INJECTED_RUN}`)).status).toBe(404);
    const health = (await (await fetch(`${address}/healthz`)).json()) as Record<string, unknown>;
    const why = new RegExp(`refused: the directory ${shared} is writable by group or others \\(mode 1777\\)`);
    expect(health).toMatchObject({ status: 'degraded', state: { ok: false, last_saved_at: null, error: expect.stringMatching(why) } });
    expect(health.config_warnings).toEqual([expect.objectContaining({ key: 'WATCHDOG_STATE_FILE', message: expect.stringMatching(why) })]);
    expect(server.out()).toMatch(/"level":50.*state file refused: the directory/);

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(74);
    expect(server.out()).toContain('state file not saved at shutdown');
    expect(await readFile(stateFile, 'utf8')).toBe(planted);
    expect(await readdir(shared)).toEqual(['state.json']);
  }, 120_000);
});
