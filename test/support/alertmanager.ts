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
  /** GET /api/v2/alerts: the alerts Alertmanager holds as firing right now. */
  alerts(): Promise<AmApiAlert[]>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

// A receiver without integrations: the test asserts on Alertmanager's own API, nothing leaves the host.
const CONFIG = `route:
  receiver: blackhole
  group_by: [alertname, instance]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: blackhole
`;

/** Starts a real Alertmanager on a free loopback port, HA clustering off, with its own temp storage. */
export async function startAlertmanager(): Promise<RunningAlertmanager> {
  const dir = await mkdtemp(join(tmpdir(), 'orch-watchdog-am-'));
  const config = join(dir, 'alertmanager.yml');
  await writeFile(config, CONFIG);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const output: string[] = [];
    const child: ChildProcess = spawn(
      ALERTMANAGER_BIN,
      [`--config.file=${config}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=warn'],
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
      await waitReady(url, child, output);
      return {
        url,
        alerts: async () => {
          const res = await fetch(`${url}/api/v2/alerts`);
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

async function waitReady(url: string, child: ChildProcess, output: string[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`alertmanager exited with ${child.exitCode}: ${output.join('')}`);
    try {
      const res = await fetch(`${url}/-/ready`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`alertmanager not ready after 20 s: ${output.join('')}`);
}
