import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian's prometheus-alertmanager (scripts/test-ci.sh installs it). */
export const ALERTMANAGER_BIN = process.env.ALERTMANAGER_BIN ?? 'prometheus-alertmanager';

export interface AmApiAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: 'active' | 'suppressed' | 'unprocessed' };
}

export interface RunningAlertmanager {
  url: string;
  /** The gossip address (127.0.0.1:port) when clustering is on. */
  clusterAddress?: string;
  /** GET /api/v2/alerts: the alerts Alertmanager holds as firing right now. */
  alerts(): Promise<AmApiAlert[]>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/**
 * Timing of a clustered peer. Alertmanager HA: the peer at position N takes the group's alerts at a
 * group tick, waits N × peer timeout, then checks the gossiped notification log. If in that wait the
 * peer at position 0 has already notified a resolve, the waiting peer's older "firing" snapshot is no
 * longer a subset of what was notified and it sends a stale "firing" (then, a tick later, a second
 * "resolved"). So the peer timeout must stay well under group_interval (with 3 s against 1 s every
 * alert reached the receiver twice, firing and resolved); 1 s is still ten gossip rounds on loopback.
 * HA stays at-least-once: a change landing within one peer timeout between the two peers' ticks can
 * still repeat (about (1 s / 10 s)² / 2 of resolves when the groups' ticks are out of phase).
 */
export const CLUSTER_TIMING = { peerTimeoutMs: 1_000, groupWaitMs: 1_000, groupIntervalMs: 10_000 } as const;

// Without a receiver URL, a receiver without integrations: the test asserts on Alertmanager's own API, nothing leaves the host.
function configYaml(receiverUrl: string | undefined, groupIntervalMs: number): string {
  const receiver = receiverUrl
    ? `  - name: blackhole\n    webhook_configs:\n      - url: ${receiverUrl}\n        send_resolved: true\n`
    : '  - name: blackhole\n';
  const groupWait = `${CLUSTER_TIMING.groupWaitMs}ms`;
  return `route:\n  receiver: blackhole\n  group_by: ['...']\n  group_wait: ${groupWait}\n  group_interval: ${groupIntervalMs}ms\n  repeat_interval: 1h\nreceivers:\n${receiver}`;
}

export interface AlertmanagerOptions {
  /** Requires HTTP basic auth (--web.config.file); `bcrypt` is the hash of `password`. */
  basicAuth?: { user: string; password: string; bcrypt: string };
  /** Gossip on this loopback port, joining these peers (127.0.0.1:port). */
  cluster?: { port: number; peers: string[] };
  /** A webhook receiver every notification (and resolve) goes to. */
  receiverUrl?: string;
  /** Keep the HTTP port across a restart of one cluster peer. */
  port?: number;
}

/** Starts a real Alertmanager on a free loopback port (clustering off unless asked), with its own temp storage. */
export async function startAlertmanager(opts: AlertmanagerOptions = {}): Promise<RunningAlertmanager> {
  const dir = await mkdtemp(join(tmpdir(), 'orch-watchdog-am-'));
  const config = join(dir, 'alertmanager.yml');
  await writeFile(config, configYaml(opts.receiverUrl, opts.cluster ? CLUSTER_TIMING.groupIntervalMs : 1_000));
  const extra: string[] = [];
  if (opts.basicAuth) {
    await writeFile(join(dir, 'web.yml'), `basic_auth_users:\n  ${opts.basicAuth.user}: ${opts.basicAuth.bcrypt}\n`);
    extra.push(`--web.config.file=${join(dir, 'web.yml')}`);
  }
  if (opts.cluster) {
    // Short timers so dedup is visible in seconds, in the ratio CLUSTER_TIMING explains.
    extra.push(
      `--cluster.listen-address=127.0.0.1:${opts.cluster.port}`,
      `--cluster.peer-timeout=${CLUSTER_TIMING.peerTimeoutMs}ms`,
      '--cluster.gossip-interval=100ms',
      '--cluster.pushpull-interval=2s',
    );
    extra.push(...opts.cluster.peers.map((p) => `--cluster.peer=${p}`));
  } else {
    extra.push('--cluster.listen-address=');
  }
  const authHeader = opts.basicAuth
    ? { authorization: `Basic ${Buffer.from(`${opts.basicAuth.user}:${opts.basicAuth.password}`).toString('base64')}` }
    : undefined;
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = opts.port ?? (await freePort());
    const url = `http://127.0.0.1:${port}`;
    const output: string[] = [];
    const child: ChildProcess = spawn(
      ALERTMANAGER_BIN,
      [
        `--config.file=${config}`,
        `--storage.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
        ...extra,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (c: Buffer) => output.push(c.toString()));
    child.stderr?.on('data', (c: Buffer) => output.push(c.toString()));
    // A crashed test worker must not leave an Alertmanager behind.
    const killOnExit = (): void => void child.kill('SIGKILL');
    process.once('exit', killOnExit);
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        process.off('exit', killOnExit);
        resolve();
      }),
    );
    const stop = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    };
    try {
      await waitReady(url, child, output, authHeader);
      return {
        url,
        ...(opts.cluster ? { clusterAddress: `127.0.0.1:${opts.cluster.port}` } : {}),
        alerts: async () => {
          const res = await fetch(`${url}/api/v2/alerts`, { headers: authHeader });
          if (!res.ok) throw new Error(`GET /api/v2/alerts answered ${res.status}`);
          return (await res.json()) as AmApiAlert[];
        },
        stop: async () => {
          await stop();
          await rm(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      lastError = err;
      await stop();
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

async function waitReady(url: string, child: ChildProcess, output: string[], headers?: Record<string, string>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`alertmanager exited with ${child.exitCode}: ${output.join('')}`);
    try {
      const res = await fetch(`${url}/-/ready`, { headers });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`alertmanager not ready after 20 s: ${output.join('')}`);
}
