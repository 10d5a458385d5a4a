import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyServerFactory } from 'fastify';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { METRIC_PREFIX } from './metrics.js';
import { readOwnOpenFilesLimit } from './proc/read-proc.js';
import { heldFdBudgetOf } from './sources/proc/scan-reads.js';

// Not an ES import: node:http's ES facade reads every export, and its lazy fetch getters load Node's own undici (~13 MB RSS).
const { createServer } = process.getBuiltinModule('node:http');

/** What an unauthenticated client can hold; not configurable: no honest client needs more (docs/api.md, "Limits"). */
export const HTTP_LIMITS = {
  maxUrlChars: 2048, // a re-test id is at most 100 characters
  headersTimeoutMs: 10_000, // from the connection's first byte to the end of the headers
  requestTimeoutMs: 30_000, // the whole request, body (≤ 1 MiB) included
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 30_000, // no traffic at all in either direction
  checkIntervalMs: 1_000, // how often the timeouts above are enforced
  maxConnections: 1024, // scrapers, the orchestrator, an operator's curl
} as const;

/** fds kept for everything but the API: Node itself, the worker threads, notifier, Docker and dependency sockets, the state file. */
export const FD_RESERVE_BASE = 256;
/** fds kept per re-test that may run at once: pipes, control sockets, cgroup files, the output-scan and lock-holder threads. */
export const FD_RESERVE_PER_RETEST = 64;
const MIN_CONNECTIONS = 16;

/** The open-file soft limit less the /proc scan's kept fds and the reserve: a flood of sockets never takes a re-test's fds. */
export function connectionCap(openFilesLimit: number | null, maxParallelRetests: number): number {
  if (openFilesLimit === null || !Number.isFinite(openFilesLimit)) return HTTP_LIMITS.maxConnections;
  const reserve = FD_RESERVE_BASE + FD_RESERVE_PER_RETEST * maxParallelRetests + heldFdBudgetOf(openFilesLimit);
  return Math.max(MIN_CONNECTIONS, Math.min(HTTP_LIMITS.maxConnections, openFilesLimit - reserve));
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
        if ((req.url ?? '').length <= HTTP_LIMITS.maxUrlChars) return handler(req, res);
        // 414 before any work: no routing, no log line, no redaction of a target no route accepts
        const body = JSON.stringify({
          error: 'uri_too_long',
          message: `the request target is longer than ${HTTP_LIMITS.maxUrlChars} characters; no route takes one that long`,
        });
        const headers = {
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(body),
          connection: 'close',
        };
        res.writeHead(414, headers).end(body);
      },
    );
    server.setTimeout(HTTP_LIMITS.idleTimeoutMs);
    server.maxConnections = maxConnections;
    server.on('drop', onDrop);
    return server;
  };
}

const DROP_WARNING_EVERY_MS = 60_000;

/** The API's server: the limits above, the cap from the open-file limit, refusals counted and logged (once a minute at most). */
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
