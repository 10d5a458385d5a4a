import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { waitFor } from './wait-for.js';

const SERVER = new URL('../../dist/src/server.js', import.meta.url).pathname;

/** `node dist/src/server.js` on a free loopback port, as `npm start` runs it, with JSON helpers over real HTTP. */
export interface RealServer {
  child: ChildProcess;
  address: string;
  /** stdout and stderr so far */
  out: () => string;
  get: <T>(path: string) => Promise<T>;
  /** with the bearer token; a body is sent as JSON */
  post: (path: string, body?: object) => Promise<Response>;
  /** SIGTERM and the exit; SIGKILL if it has not exited within 30 s */
  stop: () => Promise<void>;
}

export async function startRealServer(env: Record<string, string>, token = 'real-server-token'): Promise<RealServer> {
  const child = spawn(process.execPath, [SERVER], {
    env: { ...process.env, WATCHDOG_PORT: '0', WATCHDOG_API_TOKEN: token, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const hasExited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const listening = /"address":"(http:\/\/127\.0\.0\.1:\d+)"/;
  try {
    await waitFor('the server to listen', () => listening.test(out) || hasExited(), { timeoutMs: 60_000, describe: () => out });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  if (hasExited()) throw new Error(`the server exited before listening:\n${out}`);
  const address = listening.exec(out)![1]!;
  return {
    child,
    address,
    out: () => out,
    get: async <T>(path: string): Promise<T> => (await (await fetch(`${address}${path}`)).json()) as T,
    post: (path, body) =>
      fetch(`${address}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      }),
    async stop() {
      if (hasExited()) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
