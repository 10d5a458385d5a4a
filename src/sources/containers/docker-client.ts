import type { IncomingMessage } from 'node:http';
import { addAbortSignal } from 'node:stream';
import type Dockerode from 'dockerode';
import { z } from 'zod';
import { readBody } from '../../http.js';

const isoOrNull = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === '' || v.startsWith('0001-01-01') ? null : v));

/** What the watchdog needs to know about one container, whatever the Engine API version. */
const inspectSchema = z
  .object({
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
          Log: z.array(z.object({ End: isoOrNull, ExitCode: z.number().int().catch(-1), Output: z.string().catch('') })).nullish(),
        })
        .nullish(),
    }),
  })
  .transform(({ Id, Name, RestartCount, State: s }) => {
    const last = s.Health?.Log?.at(-1);
    return {
      name: Name.replace(/^\//, ''),
      id: Id,
      status: s.Status,
      exitCode: s.ExitCode,
      /** The engine's own error (e.g. "OCI runtime create failed"), empty when none. */
      error: s.Error,
      oomKilled: s.OOMKilled,
      startedAt: s.StartedAt,
      finishedAt: s.FinishedAt,
      restartCount: RestartCount,
      /** Host pid of the container's init (State.Pid); 0 while it is not running. */
      initPid: s.Pid,
      /** null when the image and the run define no health check. */
      health:
        !s.Health || s.Health.Status === 'none'
          ? null
          : {
              status: s.Health.Status,
              failingStreak: s.Health.FailingStreak,
              lastCheck: last === undefined ? null : { at: last.End, exitCode: last.ExitCode, output: last.Output },
            },
    };
  });

export type ContainerState = z.output<typeof inspectSchema>;

/** Pure: the inspect JSON of one container → ContainerState; throws on a payload that is not one. */
export function toContainerState(json: unknown): ContainerState {
  const parsed = inspectSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new Error(`unexpected inspect answer: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
}

/** Engine answers beyond this are refused (a broken engine once took RSS to 470 MB): an inspect is a few KB, 1,000 containers about 2 MB. */
export const DOCKER_ANSWER_MAX_BYTES = 8 * 1024 * 1024;

const engineMessage = z.object({ message: z.string() }).partial().catch({});

/** Every status counts as an answer: the reader reads the body (bounded) and judges the status itself. */
const ANY_STATUS: Record<number, boolean> = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [i + 100, true]));

/** The reads a collector makes; fakes in place of the Engine implement these. */
export type DockerReader = Pick<DockerodeReader, 'ping' | 'inspectContainer' | 'listContainerNames'>;

/** Reads only (GET): nothing here can create, start, stop, exec or write; every call rejects as soon as its AbortSignal aborts.
 *  Every answer is read as a stream capped at DOCKER_ANSWER_MAX_BYTES, because dockerode's own calls buffer whole answers. */
export class DockerodeReader {
  readonly #socketPath: string;
  #docker: Promise<Dockerode> | undefined;

  constructor(socketPath: string) {
    this.#socketPath = socketPath;
  }

  #client(): Promise<Dockerode> {
    // dockerode loads on first use, only when WATCHDOG_CONTAINERS or WATCHDOG_ORCH_CONTAINER is set;
    // DOCKER_HOST and its TLS/ssh settings in the environment must not redirect WATCHDOG_DOCKER_SOCK
    const unset = { host: undefined, port: undefined, ca: undefined, cert: undefined, key: undefined, timeout: undefined };
    this.#docker ??= import('dockerode').then(
      ({ default: Docker }) => new Docker({ socketPath: this.#socketPath, protocol: 'http', ...unset }),
    );
    return this.#docker;
  }

  /** The answer's JSON, undefined when it is not JSON. */
  async #get(path: string, signal: AbortSignal, query?: Record<string, string>): Promise<unknown> {
    const docker = await this.#client();
    signal.throwIfAborted();
    try {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        docker.modem.dial(
          { path: query ? `${path}?` : path, method: 'GET', options: query, isStream: true, statusCodes: ANY_STATUS, abortSignal: signal },
          (err, answer) => (err ? reject(err) : resolve(answer as IncomingMessage)),
        );
      });
      addAbortSignal(signal, res);
      const json = parseJson(await readBody(res, DOCKER_ANSWER_MAX_BYTES, 'throw'));
      const status = res.statusCode ?? 0;
      // an error answer shaped as dockerode's own (statusCode, json.message)
      if (status >= 400)
        throw Object.assign(new Error(`engine answered HTTP ${status}`), { statusCode: status, json: engineMessage.parse(json) });
      return json;
    } catch (err) {
      // a deadline that cut the call short says so (TimeoutError), not the socket's AbortError
      if (signal.aborted) throw signal.reason;
      throw err;
    }
  }

  async #getJson(path: string, signal: AbortSignal, query?: Record<string, string>): Promise<unknown> {
    const json = await this.#get(path, signal, query);
    if (json === undefined) throw new Error(`engine answer to ${path} is not JSON`);
    return json;
  }

  async ping(signal: AbortSignal): Promise<void> {
    await this.#get('/_ping', signal);
  }

  /** null when no container has exactly this name. */
  async inspectContainer(name: string, signal: AbortSignal): Promise<ContainerState | null> {
    const state = await this.#getJson(`/containers/${encodeURIComponent(name)}/json`, signal).then(toContainerState, (err: unknown) => {
      if ((err as { statusCode?: number }).statusCode === 404) return null;
      throw err;
    });
    // The engine falls back to ID prefixes: a watched name like "db" must not resolve to container db3f…
    return state?.name === name ? state : null;
  }

  async listContainerNames(signal: AbortSignal): Promise<string[]> {
    const list = z
      .array(z.object({ Names: z.array(z.string()).nullish() }))
      .parse(await this.#getJson('/containers/json', signal, { all: 'true' }));
    return list.flatMap((c) => (c.Names ?? []).map((n) => n.replace(/^\//, '')));
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const SOCKET_ERRORS: Record<string, (socketPath: string) => string> = {
  ENOENT: (p) => `no socket at ${p}`,
  ECONNREFUSED: (p) => `connection refused on ${p} (daemon not running?)`,
  EACCES: (p) => `permission denied on ${p}`,
  EPERM: (p) => `permission denied on ${p}`,
  ENOTSOCK: (p) => `${p} is not a socket`,
  ECONNRESET: (p) => `connection reset on ${p}`,
  EPIPE: (p) => `connection reset on ${p}`,
};

export function describeDockerError(err: unknown, socketPath: string, timeoutS: number): string {
  const e = err as { code?: string; name?: string; message?: string; statusCode?: number; json?: { message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutS} s on ${socketPath}`;
  if (e.name === 'AbortError') return 'the check was aborted (tick budget exhausted)';
  const socketError = SOCKET_ERRORS[e.code ?? ''];
  if (socketError) return socketError(socketPath);
  if (e.statusCode !== undefined) return `engine answered HTTP ${e.statusCode}: ${e.json?.message ?? e.message ?? ''}`.trim();
  return e.message ?? String(err);
}
