import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { z } from 'zod';

// not an ES import of node:http, which loads Node's own undici (src/http-server.ts says why)
const { STATUS_CODES } = process.getBuiltinModule('node:http');

/** Every `error` code, declared once: the OpenAPI Error enum and docs/api.md's table follow from it. */
export const ERROR_CODES = {
  bad_request: { status: 400, when: 'the request is malformed: not JSON, a field or path parameter invalid (the message names it)' },
  run_as_refused: {
    status: 400,
    when: "the re-test would run as root without WATCHDOG_MERGE_ALLOW_ROOT, as the watchdog's own user, or as a WATCHDOG_MERGE_RUN_AS user who does not exist; or cwd is a symbolic link",
  },
  unauthorized: { status: 401, when: 'no bearer token, or a wrong one' },
  forbidden: { status: 403, when: 'write routes are disabled: WATCHDOG_API_TOKEN is empty' },
  not_found: { status: 404, when: 'no such route, re-test id, or candidate of the last scan' },
  request_timeout: { status: 408, when: 'the request was not received in time (the connection is closed)' },
  already_done: { status: 409, when: 'DELETE of a re-test that already finished' },
  not_running: { status: 409, when: 'terminate: the process exited' },
  changed: { status: 409, when: 'terminate: the pid is no longer that process (restarted, reused, no longer a test run)' },
  protected: {
    status: 409,
    when: 'terminate: the process is protected (pid ≤ 1, the watchdog, its ancestors, an agent or an ancestor of one)',
  },
  retest_running: {
    status: 409,
    when: 'terminate: the process belongs to a merge-gate re-test inside its timeout; the gate stops it then (DELETE the re-test to stop it now)',
  },
  agents_unlocated: {
    status: 409,
    when: "terminate: the orchestrator's agents cannot be located on this host (WATCHDOG_ORCH_CONTAINER not found or not readable); nothing is signalled until they can",
  },
  foreign_root: { status: 409, when: "terminate: WATCHDOG_PROC_ROOT is not the watchdog's own /proc, so its pids are not signalled" },
  in_progress: { status: 409, when: 'terminate: a termination of that run is already under way' },
  signal_failed: { status: 409, when: 'terminate: the kernel refused the signal (another user without CAP_KILL)' },
  payload_too_large: { status: 413, when: 'the body exceeds 1 MiB' },
  uri_too_long: { status: 414, when: 'the request target is over 2,048 characters, or a path segment over 100' },
  unsupported_media_type: { status: 415, when: 'a body that is not content-type: application/json' },
  queue_full: { status: 429, when: 'the merge-gate queue is full (20 queued per repo, 100 overall)' },
  header_too_large: { status: 431, when: 'the request line and headers exceed 16 KiB (the connection is closed)' },
  internal: { status: 500, when: 'a bug; the message is masked, the details are in the log' },
} as const satisfies Record<string, { status: number; when: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
const CODES = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

/** The one error shape of every route (docs/api.md, "Errors"). */
const errorSchema = z
  .object({ error: z.enum(CODES).describe('a stable code (docs/api.md, "Errors")'), message: z.string().describe('what to fix') })
  .meta({ id: 'Error' });

type ErrorBody = z.infer<typeof errorSchema>;

/** A route's `response` error entries, one per status, described by the codes it sends. */
export function errorResponses(...codes: ErrorCode[]): Record<number, typeof errorSchema> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERROR_CODES[code].status, [...(byStatus.get(ERROR_CODES[code].status) ?? []), code]);
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [status, errorSchema.describe(list.map((c) => `\`${c}\`: ${ERROR_CODES[c].when}`).join('; '))]),
  );
}

/** What every write route may answer besides its own errors: the bearer check and the body parser. */
export const writeErrorResponses = (...codes: ErrorCode[]) =>
  errorResponses('unauthorized', 'forbidden', 'payload_too_large', 'unsupported_media_type', ...codes);

export class HttpError extends Error {
  readonly statusCode: number;
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.statusCode = ERROR_CODES[code].status;
  }
}

// Fastify's own 4xx (body parser, router) get stable codes instead of its internal FST_ERR_* names.
const FASTIFY_CODES: ErrorCode[] = [
  'not_found',
  'request_timeout',
  'payload_too_large',
  'uri_too_long',
  'unsupported_media_type',
  'header_too_large',
];
const CODE_BY_STATUS = new Map(FASTIFY_CODES.map((code) => [ERROR_CODES[code].status as number, code]));

const FASTIFY_MESSAGES: Partial<Record<string, (req: FastifyRequest) => string>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (req) =>
    `send the body as JSON with content-type: application/json (got ${(req.headers['content-type'] ?? 'none').slice(0, 100)})`,
  FST_ERR_CTP_BODY_TOO_LARGE: (req) => `the body exceeds ${req.routeOptions.bodyLimit ?? 'the'} bytes`,
  FST_ERR_BAD_URL: () => 'the URL is not validly percent-encoded',
  FST_ERR_MAX_PARAM_LENGTH: () => 'a path segment is longer than 100 characters',
};

function fastifyClientError(err: FastifyError, req: FastifyRequest): ErrorBody {
  const error = CODE_BY_STATUS.get(err.statusCode ?? 400) ?? 'bad_request';
  return { error, message: FASTIFY_MESSAGES[err.code]?.(req) ?? err.message };
}

/** Errors fastify's router raises before any route or hook runs (bad percent-encoding, an over-long path parameter). */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  void reply.code(err.statusCode ?? 400).send(fastifyClientError(err, req));
}

const PARSER_ERRORS: Partial<Record<string, [ErrorCode, string]>> = {
  HPE_HEADER_OVERFLOW: ['header_too_large', 'the request line and headers exceed 16 KiB'],
  ERR_HTTP_REQUEST_TIMEOUT: ['request_timeout', 'the request was not received in time'],
};

/** What Node's HTTP parser rejects before fastify (headers too large, broken framing) answers in the same {error, message} shape. */
export function clientErrors(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [code, message] = PARSER_ERRORS[err.code ?? ''] ?? ['bad_request', 'the request is not valid HTTP/1.1'];
  const body = JSON.stringify({ error: code, message } satisfies ErrorBody);
  const status = ERROR_CODES[code].status;
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  socket.destroy(err);
}

/** 4xx messages tell the caller what to fix; 5xx messages are masked (details go to the log). */
export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ error: err.code, message: err.message } satisfies ErrorBody);
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = err.validationContext ?? 'request';
      const issues = err.validation.map((v) => {
        const field =
          v.instancePath.replace(/^\//, '').replace(/\//g, '.') ||
          (v.params as { issue?: { path?: unknown[] } }).issue?.path?.join('.') ||
          '';
        return `${where}${field ? `.${field}` : ''}: ${v.message}`;
      });
      return reply.code(400).send({ error: 'bad_request', message: issues.join('; ') });
    }
    const isBadAnswer = isResponseSerializationError(err);
    const status = isBadAnswer ? 500 : (err.statusCode ?? 500);
    if (status < 500) return reply.code(status).send(fastifyClientError(err, req));
    if (isBadAnswer) req.log.error({ err, issues: err.cause.issues }, 'response did not match its schema');
    else req.log.error({ err }, 'request failed');
    return reply.code(status).send({ error: 'internal', message: 'internal error' });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}; see GET /openapi.json` }),
  );
}
