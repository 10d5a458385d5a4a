import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { startAlertmanager, type RunningAlertmanager } from './alertmanager.js';
import { startDockerd, type Dockerd } from './dockerd.js';
import { startFakeTelegram, type FakeTelegram } from './fake-telegram.js';
import { startHttpServer, type LoopbackServer } from './http-server.js';
import { importNodeBaseImage, NODE_BASE_IMAGE } from './node-base-image.js';
import { freePort } from './prometheus.js';
import { importPythonBaseImage, PYTHON_BASE_IMAGE } from './python-base-image.js';
import { markedPids } from './pytest-suite.js';
import { repoRoot } from './repo-root.js';
import { waitFor } from './wait-for.js';
import { buildWatchdogImage, describeImage } from './watchdog-image.js';

/**
 * The cast of the incident replay, in the topology of docker-compose.yml on one private dockerd:
 * an orchestrator stand-in in its own container (its own PID namespace) whose agent runs a real
 * pytest with CPU-spinning workers; the watchdog from this repository's image with the compose
 * file's pid: host, capabilities and mounts; a Telegram stand-in and a real Alertmanager. The
 * private dockerd has no bridge, so both containers use the host network (loopback ports).
 */

const REPO = repoRoot();
export const FIXTURES = join(REPO, 'test/fixtures/incident');
export const WATCHDOG_IMAGE = 'orch-watchdog:incident';
export const ORCH_CONTAINER = 'owd-orchestrator';
export const WATCHDOG_CONTAINER = 'owd-watchdog';
export const API_TOKEN = 'incident-replay-token';
/** An ordinary user owns the branch checkout, as the orchestrator's workspaces are owned. */
export const CHECKOUT_UID = 2000;
export const AGENT_RUN_ID = '678';
export const AGENT_TASK = 'ORCH-516';
const TG_CHAT_ID = '-1001234567890';

/** What the cast leaves running between scenarios: the daemon, the image and the two notification peers. */
export interface Stage {
  dockerd: Dockerd;
  telegram: FakeTelegram;
  alertmanager: RunningAlertmanager;
  /** Alertmanager's own notifications (its webhook receiver): firing, then resolved. */
  amReceiver: LoopbackServer;
  imageNote: string;
  /** In every command line of this replay's test processes (and no one else's): the scan is scoped to it. */
  marker: string;
  /** Mounted at the same path in both containers, like ORCH_WORKSPACES. */
  workspaces: string;
  agentDir: string;
  /** The branch the gate re-tests; owned by CHECKOUT_UID. */
  checkout: string;
  branchSuite: string;
  /** Orphan workers: four per core, so the CPU stays saturated and a starved re-test gets a fraction of a core. */
  workers: number;
  close(): Promise<void>;
}

export async function setUpStage(): Promise<Stage> {
  const marker = `owdincident${process.pid}`;
  const dockerd = await startDockerd();
  const closers: (() => Promise<void>)[] = [() => dockerd.stop()];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    for (const pid of markedPids(marker)) killQuietly(pid);
  };
  try {
    await importNodeBaseImage(dockerd);
    await importPythonBaseImage(dockerd);
    const image = await buildWatchdogImage(dockerd, WATCHDOG_IMAGE, {
      NODE_BASE: NODE_BASE_IMAGE,
      BASE_IMAGE: PYTHON_BASE_IMAGE,
      NODE_FROM: 'copy',
    });
    const telegram = await startFakeTelegram();
    closers.push(() => telegram.close());
    const amReceiver = await startHttpServer((_req, res) => res.writeHead(200).end());
    closers.push(() => amReceiver.close());
    const alertmanager = await startAlertmanager({ receiverUrl: `${amReceiver.url}/alertmanager` });
    closers.push(() => alertmanager.stop());

    const workspaces = mkdtempSync('/tmp/owd-ws-');
    closers.push(() => Promise.resolve(rmSync(workspaces, { recursive: true, force: true })));
    chmodSync(workspaces, 0o755);
    const agentDir = join(workspaces, `agent-${AGENT_RUN_ID}`);
    mkdirSync(agentDir);
    copyFileSync(join(FIXTURES, 'test_spin.py'), join(agentDir, `test_spin_${marker}.py`));
    const checkout = join(workspaces, 'branch');
    mkdirSync(checkout);
    const branchSuite = `test_branch_${marker}.py`;
    copyFileSync(join(FIXTURES, 'test_cpu.py'), join(checkout, branchSuite));
    for (const p of [checkout, join(checkout, branchSuite)]) chownSync(p, CHECKOUT_UID, CHECKOUT_UID);

    const workers = 4 * availableParallelism();
    return {
      dockerd,
      telegram,
      alertmanager,
      amReceiver,
      imageNote: describeImage(image),
      marker,
      workspaces,
      agentDir,
      checkout,
      branchSuite,
      workers,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

interface ComposeService {
  pid?: string;
  user?: string;
  read_only?: boolean;
  tmpfs?: string[];
  cap_drop?: string[];
  cap_add?: string[];
  security_opt?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
}

/**
 * `docker run` flags for the watchdog as docker-compose.yml's `watchdog` service sets it up: pid,
 * user, read-only root, tmpfs, capabilities, security options, environment and volumes (the
 * Docker socket read-only, the workspaces at the same path, the state volume). Published ports
 * become the host network (no bridge here), so the listen address is loopback.
 */
export function composeWatchdogFlags(dockerSocket: string, workspaces: string): string[] {
  const compose = parseYaml(readFileSync(join(REPO, 'docker-compose.yml'), 'utf8')) as { services: { watchdog: ComposeService } };
  const svc = compose.services.watchdog;
  const vars: Record<string, string> = { ORCH_WORKSPACES: workspaces };
  const interpolate = (s: string): string => s.replace(/\$\{(\w+):-([^}]*)\}/g, (_m, name: string, dflt: string) => vars[name] ?? dflt);
  const flags = ['--network', 'host'];
  if (svc.pid) flags.push('--pid', svc.pid);
  if (svc.user) flags.push('--user', svc.user);
  if (svc.read_only) flags.push('--read-only');
  for (const t of svc.tmpfs ?? []) flags.push('--tmpfs', t);
  for (const c of svc.cap_drop ?? []) flags.push('--cap-drop', c);
  for (const c of svc.cap_add ?? []) flags.push('--cap-add', c);
  for (const o of svc.security_opt ?? []) flags.push('--security-opt', o);
  for (const v of svc.volumes ?? []) {
    const [source, ...rest] = interpolate(v).split(':');
    flags.push('-v', [source === '/var/run/docker.sock' ? dockerSocket : source, ...rest].join(':'));
  }
  for (const [k, v] of Object.entries(svc.environment ?? {}))
    if (k !== 'WATCHDOG_HOST' && k !== 'WATCHDOG_PORT') flags.push('-e', `${k}=${v}`);
  return flags;
}

export interface WatchdogSettings {
  port: number;
  orchPort: number;
  /** PSI cpu some avg10 (%) above which queued re-tests wait. */
  maxCpuPressure: number;
  pressureWaitS: number;
  procAgeMin: number;
  reapAgeMin: number;
}

/** The watchdog's environment for the replay; the scan is scoped to the marker, so other runs on the host are never touched. */
function watchdogEnv(stage: Stage, s: WatchdogSettings): Record<string, string> {
  return {
    WATCHDOG_HOST: '127.0.0.1',
    WATCHDOG_PORT: String(s.port),
    WATCHDOG_TICK_S: '1',
    WATCHDOG_HTTP_TIMEOUT_S: '3',
    WATCHDOG_API_TOKEN: API_TOKEN,
    WATCHDOG_METRICS_URL: `http://127.0.0.1:${s.orchPort}/metrics`,
    WATCHDOG_ORCH_CONTAINER: ORCH_CONTAINER,
    WATCHDOG_PROC_ENABLED: 'true',
    WATCHDOG_PROC_MATCH: 'cmdline',
    WATCHDOG_PROC_PATTERNS: `pytest.*${stage.marker}`,
    WATCHDOG_PROC_AGE_MIN: String(s.procAgeMin),
    WATCHDOG_PROC_REAP_ENABLED: 'true',
    WATCHDOG_PROC_REAP_AGE_MIN: String(s.reapAgeMin),
    WATCHDOG_KILL_GRACE_S: '2',
    WATCHDOG_TG_BOT_TOKEN: stage.telegram.token,
    WATCHDOG_TG_CHAT_ID: TG_CHAT_ID,
    WATCHDOG_TG_API_URL: stage.telegram.url,
    WATCHDOG_ALERTMANAGER_URL: stage.alertmanager.url,
    WATCHDOG_MERGE_MAX_CPU_PRESSURE: String(s.maxCpuPressure),
    WATCHDOG_MERGE_PRESSURE_WAIT_S: String(s.pressureWaitS),
  };
}

/** Starts the watchdog container and waits for its first tick. */
export async function startWatchdog(stage: Stage, s: WatchdogSettings): Promise<void> {
  const env = Object.entries(watchdogEnv(stage, s)).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  const flags = composeWatchdogFlags(stage.dockerd.socketPath, stage.workspaces);
  await stage.dockerd.dockerOk(['run', '--detach', '--name', WATCHDOG_CONTAINER, ...flags, ...env, WATCHDOG_IMAGE]);
  await waitFor(
    'the watchdog answering /healthz after its first tick',
    async () => {
      const res = await fetch(`http://127.0.0.1:${s.port}/healthz`, { signal: AbortSignal.timeout(3_000) }).catch(() => null);
      return res?.status === 200;
    },
    { timeoutMs: 60_000, intervalMs: 250, describe: () => stage.dockerd.logTail() },
  );
}

/** Starts the orchestrator stand-in (its agent starts the spinning pytest at once) and waits for its envelope. */
export async function startOrchestrator(stage: Stage, orchPort: number): Promise<void> {
  // prettier-ignore
  await stage.dockerd.dockerOk([
    'run', '--detach', '--name', ORCH_CONTAINER, '--init', '--network', 'host', '--stop-timeout', '1',
    '-v', `${FIXTURES}:/orch:ro`, '-v', `${stage.workspaces}:${stage.workspaces}`,
    '-e', `ORCH_PORT=${orchPort}`, '-e', `ORCH_RUN_ID=${AGENT_RUN_ID}`, '-e', `ORCH_TASK=${AGENT_TASK}`,
    '-e', `AGENT_WORKDIR=${stage.agentDir}`, '-e', `AGENT_SUITE=test_spin_${stage.marker}.py`,
    '-e', `SPIN_WORKERS=${stage.workers}`,
    PYTHON_BASE_IMAGE, 'python3', '/orch/orchestrator.py',
  ]);
  await waitFor(
    'the orchestrator serving its envelope',
    async () => (await fetch(`http://127.0.0.1:${orchPort}/metrics`).catch(() => null))?.status === 200,
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}

/** Removes both containers (the orchestrator's PID namespace, and whatever it still held, dies with it). */
export async function removeContainers(stage: Stage): Promise<void> {
  await stage.dockerd.docker(['rm', '--force', WATCHDOG_CONTAINER, ORCH_CONTAINER], { timeoutMs: 60_000 });
  for (const pid of markedPids(stage.marker)) killQuietly(pid);
}

export async function freePorts(): Promise<{ port: number; orchPort: number }> {
  return { port: await freePort(), orchPort: await freePort() };
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** PSI cpu `some avg10` of this host, in percent (what the gate reads). */
export function cpuSomeAvg10(): number {
  const m = /^some avg10=(\d+(?:\.\d+)?)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
  return m ? Number(m[1]) : NaN;
}
