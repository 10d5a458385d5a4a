import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { httpRequest, loadUndici } from '../../http.js';

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
  /** Host pid of the container's init (State.Pid); 0 while it is not running. */
  initPid: number;
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

const isoOrNull = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === '' || v.startsWith('0001-01-01') ? null : v));

const inspectSchema = z.object({
  Id: z.string(),
  Name: z.string(),
  RestartCount: z.number().int().nonnegative().catch(0),
  State: z.object({
    Status: z.string(),
    Pid: z.number().int().nonnegative().catch(0),
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
    initPid: c.State.Pid,
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

/** Engine answers beyond this are refused: an inspect is a few KB, a list of 1,000 containers about 2 MB. */
export const DOCKER_ANSWER_MAX_BYTES = 8 * 1024 * 1024;

/** A backstop only: every call is bounded by the collector's signal (WATCHDOG_HTTP_TIMEOUT_S within the tick budget). */
const CALL_MAX_MS = 60_000;

/** An Engine API error answer, shaped as dockerode's were (statusCode, json.message). */
class EngineError extends Error {
  constructor(
    readonly statusCode: number,
    readonly json: { message?: string },
  ) {
    super(`engine answered HTTP ${statusCode}`);
    this.name = 'EngineError';
  }
}

const engineMessage = z.object({ message: z.string() }).partial().catch({});

/**
 * The Engine API over its unix socket with undici: GET only, and every answer capped at
 * DOCKER_ANSWER_MAX_BYTES (dockerode buffered whole answers: a hostile or broken engine took RSS to 470 MB).
 */
export class EngineApiReader implements DockerReader {
  // Private fields: the socket's dispatcher never leaves this class, and only #get uses it.
  readonly #socketPath: string;
  #agent: Dispatcher | undefined;

  constructor(socketPath: string) {
    this.#socketPath = socketPath;
  }

  async #get(path: string, signal: AbortSignal): Promise<{ status: number; text: string }> {
    // undici loads on first use (~10 MB of RSS), only when WATCHDOG_CONTAINERS is set
    this.#agent ??= new (await loadUndici()).Agent({ connect: { socketPath: this.#socketPath } });
    const res = await httpRequest(`http://docker${path}`, {
      timeoutMs: CALL_MAX_MS,
      signal,
      dispatcher: this.#agent,
      maxBytes: DOCKER_ANSWER_MAX_BYTES,
    });
    if (res.status >= 400) {
      let json: unknown = {};
      try {
        json = JSON.parse(res.text);
      } catch {
        // a non-JSON error body: the status says enough
      }
      throw new EngineError(res.status, engineMessage.parse(json));
    }
    return res;
  }

  async #getJson(path: string, signal: AbortSignal): Promise<unknown> {
    const { text } = await this.#get(path, signal);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new Error(`engine answer to ${path.split('?')[0]} is not JSON`);
    }
  }

  async ping(signal: AbortSignal): Promise<void> {
    await this.#get('/_ping', signal);
  }

  async inspectContainer(name: string, signal: AbortSignal): Promise<ContainerState | null> {
    let json: unknown;
    try {
      json = await this.#getJson(`/containers/${encodeURIComponent(name)}/json`, signal);
    } catch (err) {
      if (err instanceof EngineError && err.statusCode === 404) return null;
      throw err;
    }
    const state = toContainerState(json);
    // The engine falls back to ID prefixes: a watched name like "db" must not resolve to container db3f…
    return state.name === name ? state : null;
  }

  async listContainerNames(signal: AbortSignal): Promise<string[]> {
    const list = z.array(z.object({ Names: z.array(z.string()).nullish() })).parse(await this.#getJson('/containers/json?all=1', signal));
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
