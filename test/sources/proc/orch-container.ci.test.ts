import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../../support/app.js';
import { startDockerd, type Dockerd } from '../../support/dockerd.js';
import { startHttpServer, type LoopbackServer } from '../../support/http-server.js';
import { importPythonBaseImage } from '../../support/python-base-image.js';
import { startServerProcess, type ServerProcess } from '../../support/server-process.js';
import { waitFor } from '../../support/wait-for.js';

const CLI = new URL('../../../bin/orch-watchdog.js', import.meta.url).pathname;
const run = promisify(execFile);

// The deployment's shape: the orchestrator in its own container (its own PID namespace), an agent
// shell in it running a real pytest, the watchdog on the host's PID view.
const MARKER = `owd-orch-${process.pid}-${Date.now()}`;
const CONTAINER = 'orch';
const TOKEN = 'orch-container-test-token';
const AGENT = { run_id: '678', task: 'ORCH-111', stage: 'tester' };

interface Candidate {
  pid: number;
  cmdline: string;
  owner: { kind: string; run_id?: string; task?: string | null; stage?: string | null } | null;
}

interface Health {
  status: string;
  agent_pid_warnings?: { key: string; value: string; run_id: string | null; pid: number | null; message: string }[];
}

let dockerd: Dockerd;
let dir: string;
let envelope: LoopbackServer;
const servers: ServerProcess[] = [];

/** The agent's pid as the orchestrator sees it: in the container's namespace (written by the agent shell itself). */
const agentNsPid = (): number | null => {
  try {
    const pid = Number(readFileSync(join(dir, 'agent.pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
};

/** Host pids of this file's processes whose command line holds `needle` (scoped by the marker). */
function hostPidsWith(needle: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'latin1').replaceAll('\0', ' ');
      if (cmdline.includes(MARKER) && cmdline.includes(needle)) pids.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

const isAlive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return !stat.slice(stat.lastIndexOf(')')).startsWith(') Z ');
  } catch {
    return false;
  }
};

async function getJson<T>(server: ServerProcess, path: string): Promise<T> {
  return (await (await fetch(`${server.address}${path}`)).json()) as T;
}

const ours = (cs: Candidate[]): Candidate[] => cs.filter((c) => c.cmdline.includes(MARKER));

async function watchdog(extra: Record<string, string>): Promise<ServerProcess> {
  const server = await startServerProcess({
    LOG_LEVEL: 'info',
    WATCHDOG_TICK_S: '0.5',
    WATCHDOG_HTTP_TIMEOUT_S: '1',
    WATCHDOG_METRICS_URL: `${envelope.url}/metrics`,
    WATCHDOG_DOCKER_SOCK: dockerd.socketPath,
    WATCHDOG_PROC_ENABLED: 'true',
    // the whole command line, so the agent shell (`sh /t/agent-MARKER.sh`) matches too, as a wrapper running pytest does
    WATCHDOG_PROC_MATCH: 'cmdline',
    WATCHDOG_PROC_PATTERNS: MARKER,
    WATCHDOG_API_TOKEN: TOKEN,
    ...extra,
  });
  servers.push(server);
  return server;
}

/** Waits (generously: a loaded 2-core host) until our pytest is a candidate owned by the agent; returns it. */
async function ownedPytest(server: ServerProcess, notPid?: number): Promise<Candidate> {
  let last: Candidate[] = [];
  await waitFor(
    'the container pytest listed with the agent as its owner',
    async () => {
      last = ours((await getJson<{ candidates: Candidate[] }>(server, '/proc/candidates')).candidates);
      return last.some((c) => c.cmdline.includes('-m pytest') && c.owner?.kind === 'agent' && c.pid !== notPid);
    },
    { timeoutMs: 60_000, intervalMs: 250, describe: () => `candidates: ${JSON.stringify(last)}\n${server.tail()}` },
  );
  return last.find((c) => c.cmdline.includes('-m pytest') && c.pid !== notPid)!;
}

beforeAll(async () => {
  dockerd = await startDockerd();
  const image = await importPythonBaseImage(dockerd);
  dir = mkdtempSync('/tmp/owd-orch-');
  mkdirSync(join(dir, `suite-${MARKER}`));
  writeFileSync(join(dir, `suite-${MARKER}`, 'test_slow.py'), 'import time\n\ndef test_slow():\n    time.sleep(600)\n');
  // the agent: a shell that records its own pid (in its namespace), runs pytest, and outlives it
  writeFileSync(
    join(dir, `agent-${MARKER}.sh`),
    [
      'echo $$ > /t/agent.pid.tmp && mv /t/agent.pid.tmp /t/agent.pid',
      `python3 -m pytest -q -p no:cacheprovider /t/suite-${MARKER}/test_slow.py`,
      'echo "pytest exited $?" >> /t/agent.log',
      'while :; do sleep 1; done',
      '',
    ].join('\n'),
  );
  // the orchestrator stand-in: the container's init, which starts the agent
  writeFileSync(join(dir, 'start.sh'), `sh /t/agent-${MARKER}.sh &\nexec sleep 100000\n`);
  await dockerd.dockerOk(['run', '-d', '--network', 'none', '--name', CONTAINER, '-v', `${dir}:/t`, image, 'sh', '/t/start.sh']);
  await waitFor('the agent to record its pid', () => agentNsPid() !== null, { timeoutMs: 60_000, describe: () => dockerd.logTail() });
  envelope = await startHttpServer((_req, res) => {
    const pid = agentNsPid();
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        schema_version: 1,
        generated_at: Date.now() / 1000,
        queue: { counts: { queued: 0, running: 1, failed: 0, done: 0 } },
        agents: pid === null ? [] : [{ ...AGENT, pid, cpu_ticks: 1 }],
      }),
    );
  });
}, 300_000);

afterAll(async () => {
  for (const s of servers.splice(0)) await s.stop();
  await envelope?.close();
  await dockerd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('an orchestrator in its own container (WATCHDOG_ORCH_CONTAINER)', { timeout: 240_000 }, () => {
  it('names the agent as the owner of its pytest, never terminates the agent, and follows a container restart', async () => {
    const server = await watchdog({ WATCHDOG_ORCH_CONTAINER: CONTAINER });
    const pytest = await ownedPytest(server);
    expect(pytest.owner).toEqual({ kind: 'agent', ...AGENT });
    // the envelope's pid is small (the container's namespace): the agent's host pid is another
    const [agentHostPid] = hostPidsWith(`agent-${MARKER}.sh`);
    expect(agentHostPid).toBeDefined();
    expect(agentHostPid).not.toBe(agentNsPid());
    // the agent is never a candidate, though its command line matches the pattern
    expect(ours((await getJson<{ candidates: Candidate[] }>(server, '/proc/candidates')).candidates).map((c) => c.pid)).not.toContain(
      agentHostPid,
    );
    expect((await getJson<Health>(server, '/healthz')).agent_pid_warnings).toEqual([]);

    const terminate = (pid: number) =>
      fetch(`${server.address}/proc/candidates/${pid}/terminate`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    const refused = await terminate(agentHostPid!);
    expect([404, 409]).toContain(refused.status);
    expect(isAlive(agentHostPid!)).toBe(true);

    // stopping the pytest stops exactly its run: the agent shell that started it lives on
    const stopped = await terminate(pytest.pid);
    expect(stopped.status).toBe(202);
    await waitFor('the pytest to exit and the agent to notice', () => !isAlive(pytest.pid) && existsSync(join(dir, 'agent.log')), {
      timeoutMs: 30_000,
    });
    expect(isAlive(agentHostPid!)).toBe(true);

    // a restart: new init, new namespace, a new agent and pytest at new host pids
    rmSync(join(dir, 'agent.pid'));
    rmSync(join(dir, 'agent.log'));
    await dockerd.dockerOk(['restart', '-t', '1', CONTAINER]);
    await waitFor('the restarted agent to record its pid', () => agentNsPid() !== null, { timeoutMs: 60_000 });
    const again = await ownedPytest(server, pytest.pid);
    expect(again.owner).toEqual({ kind: 'agent', ...AGENT });
    expect(hostPidsWith(`agent-${MARKER}.sh`)).not.toContain(agentHostPid);
    expect((await getJson<Health>(server, '/healthz')).agent_pid_warnings).toEqual([]);
  });

  it('a WATCHDOG_ORCH_CONTAINER that names no container: nothing is terminated, and /healthz says why', async () => {
    await waitFor('the agent running', () => agentNsPid() !== null, { timeoutMs: 60_000 });
    const [pytestPid] = await (async () => {
      let pids: number[] = [];
      await waitFor('the container pytest running', () => (pids = hostPidsWith('-m pytest')).length > 0, { timeoutMs: 60_000 });
      return pids;
    })();
    const app = await testApp(
      {
        procEnabled: true,
        procRoot: '/proc',
        procMatch: 'cmdline',
        procPatterns: [MARKER],
        metricsUrl: `${envelope.url}/metrics`,
        dockerSock: dockerd.socketPath,
        orchContainer: 'ghost',
        apiToken: TOKEN,
      },
      { collectors: undefined },
    );
    try {
      // a warning stands once two scans in a row found it; the first scan may run before the first envelope arrived
      let health: Health = { status: '' };
      await waitFor('an agent pid warning', async () => {
        await app.ctx.watchdog.tick();
        health = (await app.inject('/healthz')).json<Health>();
        return (health.agent_pid_warnings?.length ?? 0) > 0;
      });
      expect(health.agent_pid_warnings).toEqual([
        {
          key: 'WATCHDOG_ORCH_CONTAINER',
          value: 'ghost',
          run_id: null,
          pid: null,
          message: expect.stringMatching(/container ghost: no container is named "ghost"; nothing is terminated until they can$/),
        },
      ]);
      const answer = await app.inject({
        method: 'POST',
        url: `/proc/candidates/${pytestPid}/terminate`,
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(answer.statusCode).toBe(409);
      expect(answer.json<{ error: string }>().error).toBe('agents_unlocated');
      expect(answer.json<{ message: string }>().message).toMatch(/agents cannot be located \(WATCHDOG_ORCH_CONTAINER=ghost: no container/);
      expect(isAlive(pytestPid!)).toBe(true);
    } finally {
      await app.close();
    }
  });

  it('with the key left empty, /healthz and check-config say the envelope pids are not this host’s and name WATCHDOG_ORCH_CONTAINER', async () => {
    await waitFor('the agent running', () => agentNsPid() !== null, { timeoutMs: 60_000 });
    const server = await watchdog({});
    let health: Health = { status: '' };
    await waitFor(
      'an agent pid warning in /healthz',
      async () => {
        health = await getJson<Health>(server, '/healthz');
        return (health.agent_pid_warnings?.length ?? 0) > 0;
      },
      { timeoutMs: 60_000, intervalMs: 250, describe: () => JSON.stringify(health) },
    );
    expect(health.status).toBe('degraded');
    expect(health.agent_pid_warnings).toEqual([
      {
        key: 'WATCHDOG_ORCH_CONTAINER',
        value: '',
        run_id: AGENT.run_id,
        pid: agentNsPid(),
        message: expect.stringMatching(
          /^agent run 678: (no process has pid \d+|pid \d+ is a kernel thread|pid \d+ is .*another PID namespace).*set WATCHDOG_ORCH_CONTAINER/,
        ),
      },
    ]);
    // the pytest is listed, but no agent owns it: the key is what is missing
    expect(ours((await getJson<{ candidates: Candidate[] }>(server, '/proc/candidates')).candidates).every((c) => c.owner === null)).toBe(
      true,
    );

    const env = {
      ...process.env,
      WATCHDOG_METRICS_URL: `${envelope.url}/metrics`,
      WATCHDOG_DOCKER_SOCK: dockerd.socketPath,
      WATCHDOG_PROC_ENABLED: 'true',
    };
    const wrong = await run(process.execPath, [CLI, 'check-config'], { env }).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(wrong?.code).toBe(1);
    expect(wrong?.stderr).toMatch(/WATCHDOG_ORCH_CONTAINER="": agent run 678: .*set WATCHDOG_ORCH_CONTAINER to that container's name/);
    const right = await run(process.execPath, [CLI, 'check-config'], { env: { ...env, WATCHDOG_ORCH_CONTAINER: CONTAINER } });
    expect(right.stdout).toBe(`configuration OK\nagent pids: 1 of 1 placed in container ${CONTAINER}\n`);
  });
});
