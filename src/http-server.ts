import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyServerFactory } from 'fastify';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { METRIC_PREFIX } from './metrics.js';
import { readOwnOpenFilesLimit } from './proc/read-proc.js';
import { heldFdBudgetOf } from './sources/proc/scan-reads.js';

// Not `import … from 'node:http'`: an ES module import makes Node build the module's ES facade,
// which reads every export, and node:http's lazy WebSocket/fetch getters then load Node's own
// undici (~13 MB of RSS on Node 24). The CommonJS form reads only what is used.
const { createServer } = process.getBuiltinModule('node:http');

/**
 * The listening socket's limits: what an unauthenticated client can hold. Not configurable: the
 * routes answer in milliseconds, so no honest client needs more (docs/api.md, "Limits").
 */
export const HTTP_LIMITS = {
  /** The longest request target any route accepts (a re-test id is at most 100 characters). */
  maxUrlChars: 2048,
  /** From the connection's first byte (or its opening) to the end of the headers. */
  headersTimeoutMs: 10_000,
  /** The whole request, body (≤ 1 MiB) included. */
  requestTimeoutMs: 30_000,
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: 5_000,
  /** A socket with no traffic at all in either direction. */
  idleTimeoutMs: 30_000,
  /** How often the timeouts above are enforced. */
  checkIntervalMs: 1_000,
  /** No honest use needs more at once: scrapers, the orchestrator, an operator's curl. */
  maxConnections: 1024,
} as const;

/** fds kept for everything but the API: Node itself, the worker threads, notifier, Docker and dependency sockets, the state file. */
export const FD_RESERVE_BASE = 256;
/** fds kept per re-test that may run at once: pipes, control sockets, cgroup files, the output-scan and lock-holder threads. */
export const FD_RESERVE_PER_RETEST = 64;
const MIN_CONNECTIONS = 16;

/**
 * Connections the API may hold: the open-file soft limit less the /proc scan's kept stat fds and
 * the reserve, so a flood of idle sockets can never take the fds a re-test needs to start.
 */
export function connectionCap(openFilesLimit: number | null, maxParallelRetests: number): number {
  if (openFilesLimit === null || !Number.isFinite(openFilesLimit)) return HTTP_LIMITS.maxConnections;
  const reserve = FD_RESERVE_BASE + FD_RESERVE_PER_RETEST * maxParallelRetests + heldFdBudgetOf(openFilesLimit);
  return Math.max(MIN_CONNECTIONS, Math.min(HTTP_LIMITS.maxConnections, openFilesLimit - reserve));
}

/** 414 before any work: no routing, no log line, no redaction of a target no route accepts. */
function refuseLongUrl(res: ServerResponse): void {
  const body = JSON.stringify({
    error: 'uri_too_long',
    message: `the request target is longer than ${HTTP_LIMITS.maxUrlChars} characters; no route takes one that long`,
  });
  res.writeHead(414, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}

/** Fastify's server with every limit set; `onDrop` hears of each connection refused at the cap. */
export function limitedServerFactory(maxConnections: number, onDrop: () => void): FastifyServerFactory<Server> {
  return (handler) => {
    const server = createServer(
      {
        headersTimeout: HTTP_LIMITS.headersTimeoutMs,
        requestTimeout: HTTP_LIMITS.requestTimeoutMs,
        keepAliveTimeout: HTTP_LIMITS.keepAliveTimeoutMs,
        connectionsCheckingInterval: HTTP_LIMITS.checkIntervalMs,
      },
      (req: IncomingMessage, res: ServerResponse) => {
        if ((req.url ?? '').length > HTTP_LIMITS.maxUrlChars) refuseLongUrl(res);
        else handler(req, res);
      },
    );
    server.setTimeout(HTTP_LIMITS.idleTimeoutMs);
    server.maxConnections = maxConnections;
    server.on('drop', onDrop);
    return server;
  };
}

const DROP_WARNING_EVERY_MS = 60_000;

/**
 * The API's server: the limits above, the connection cap from this process's open-file limit,
 * and every refused connection counted (a metric) and logged (at most once a minute).
 */
export function apiServerFactory(opts: { maxParallelRetests: number; registry: Registry; log: Logger }): FastifyServerFactory<Server> {
  const openFiles = readOwnOpenFilesLimit();
  const cap = connectionCap(openFiles, opts.maxParallelRetests);
  const refused = new Counter({
    name: `${METRIC_PREFIX}http_connections_refused_total`,
    help: 'Connections closed on arrival because the API already held its cap (a flood, or a client leaking connections).',
    registers: [opts.registry],
  });
  let unreported = 0;
  let warnedAtMs = 0;
  opts.log.debug({ max_connections: cap, open_files_limit: openFiles }, 'HTTP API connection cap');
  return limitedServerFactory(cap, () => {
    refused.inc();
    unreported += 1;
    if (Date.now() - warnedAtMs < DROP_WARNING_EVERY_MS) return;
    warnedAtMs = Date.now();
    opts.log.warn({ max_connections: cap, refused: unreported }, 'HTTP API: connections refused at the cap (fds stay free for re-tests)');
    unreported = 0;
  });
}
