import { createRequire } from 'node:module';
import type Docker from 'dockerode';
import { z } from 'zod';

/** What the watchdog needs to know about one container, whatever the Engine API version. */
export interface ContainerState {
  name: string;
  id: string;
  /** created, running, paused, restarting, removing, exited or dead. */
  status: string;
  exitCode: number;
  /** The engine's own error (e.g. "OCI runtime create failed"), empty when none. */
  error: string;
  oomKilled: boolean;
  /** ISO timestamps; null while never started / never finished. */
  startedAt: string | null;
  finishedAt: string | null;
  restartCount: number;
  /** null when the image and the run define no health check. */
  health: HealthState | null;
}

export interface HealthState {
  /** starting, healthy or unhealthy. */
  status: string;
  failingStreak: number;
  lastCheck: { at: string | null; exitCode: number; output: string } | null;
}

/**
 * The Engine API surface the watchdog may use: reads only. Nothing here can create, start,
 * stop, exec or write, so the socket is safe to mount read-only into the watchdog.
 * Every call takes an AbortSignal and rejects as soon as it aborts.
 */
export interface DockerReader {
  ping(signal: AbortSignal): Promise<void>;
  /** null when no container has exactly this name. */
  inspectContainer(name: string, signal: AbortSignal): Promise<ContainerState | null>;
  /** Names of every container, running or not. */
  listContainerNames(signal: AbortSignal): Promise<string[]>;
}

/** Docker's zero time, used for "never". */
const ZERO_TIME = /^0001-01-01/;

const isoOrNull = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === '' || ZERO_TIME.test(v) ? null : v));

const inspectSchema = z.object({
  Id: z.string(),
  Name: z.string(),
  RestartCount: z.number().int().nonnegative().catch(0),
  State: z.object({
    Status: z.string(),
    ExitCode: z.number().int().catch(0),
    Error: z.string().catch(''),
    OOMKilled: z.boolean().catch(false),
    StartedAt: isoOrNull,
    FinishedAt: isoOrNull,
    Health: z
      .object({
        Status: z.string(),
        FailingStreak: z.number().int().catch(0),
        Log: z
          .array(z.object({ End: isoOrNull, ExitCode: z.number().int().catch(-1), Output: z.string().catch('') }))
          .nullish()
          .transform((v) => v ?? []),
      })
      .nullish(),
  }),
});

/** Pure: the inspect JSON of one container → ContainerState; throws on a payload that is not one. */
export function toContainerState(json: unknown): ContainerState {
  const parsed = inspectSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`unexpected inspect answer: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  const c = parsed.data;
  const health = c.State.Health;
  const last = health?.Log.at(-1);
  return {
    name: c.Name.replace(/^\//, ''),
    id: c.Id,
    status: c.State.Status,
    exitCode: c.State.ExitCode,
    error: c.State.Error,
    oomKilled: c.State.OOMKilled,
    startedAt: c.State.StartedAt,
    finishedAt: c.State.FinishedAt,
    restartCount: c.RestartCount,
    health:
      health === null || health === undefined || health.Status === 'none'
        ? null
        : {
            status: health.Status,
            failingStreak: health.FailingStreak,
            lastCheck: last === undefined ? null : { at: last.End, exitCode: last.ExitCode, output: last.Output },
          },
  };
}

/** Rejects as soon as `signal` aborts, even if the underlying call never settles. */
function bounded<T>(call: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    call.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    call.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function statusCodeOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

/** dockerode over a unix socket, wrapped so only reads are reachable. */
export class DockerodeReader implements DockerReader {
  // Private field: the full dockerode client (with its write calls) never leaves this class.
  readonly #docker: Docker;

  constructor(socketPath: string) {
    // Required here, not imported: dockerode costs ~11 MB of RSS, paid only when WATCHDOG_CONTAINERS is set.
    const DockerClient = createRequire(import.meta.url)('dockerode') as typeof Docker;
    this.#docker = new DockerClient({ socketPath });
  }

  async ping(signal: AbortSignal): Promise<void> {
    // dockerode's typings omit ping's options, though it passes abortSignal through like every call.
    const ping = this.#docker.ping.bind(this.#docker) as unknown as (opts: { abortSignal: AbortSignal }) => Promise<unknown>;
    await bounded(ping({ abortSignal: signal }), signal);
  }

  async inspectContainer(name: string, signal: AbortSignal): Promise<ContainerState | null> {
    let json: unknown;
    try {
      json = await bounded(this.#docker.getContainer(name).inspect({ abortSignal: signal }), signal);
    } catch (err) {
      if (statusCodeOf(err) === 404) return null;
      throw err;
    }
    const state = toContainerState(json);
    // The engine falls back to ID prefixes: a watched name like "db" must not resolve to container db3f…
    return state.name === name ? state : null;
  }

  async listContainerNames(signal: AbortSignal): Promise<string[]> {
    const list = await bounded(this.#docker.listContainers({ all: true, abortSignal: signal }), signal);
    return list.flatMap((c) => (c.Names ?? []).map((n) => n.replace(/^\//, '')));
  }
}

/** A short, operator-readable reason for a failed Engine API call. */
export function describeDockerError(err: unknown, socketPath: string, timeoutS: number): string {
  const e = err as { code?: string; name?: string; message?: string; statusCode?: number; json?: { message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutS} s on ${socketPath}`;
  if (e.name === 'AbortError') return 'the check was aborted (tick budget exhausted)';
  switch (e.code) {
    case 'ENOENT':
      return `no socket at ${socketPath}`;
    case 'ECONNREFUSED':
      return `connection refused on ${socketPath} (daemon not running?)`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied on ${socketPath}`;
    case 'ENOTSOCK':
      return `${socketPath} is not a socket`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `connection reset on ${socketPath}`;
  }
  if (e.statusCode !== undefined) return `engine answered HTTP ${e.statusCode}: ${e.json?.message ?? e.message ?? ''}`.trim();
  return e.message ?? String(err);
}
