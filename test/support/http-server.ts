import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One request as the peer saw it: what a receiver asserts on (HMAC of the raw body, headers, path). */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The raw body, utf8; '' for a bodiless request. */
  body: string;
  atMs: number;
}

/**
 * Runs as the request arrives (so a handler may still read `req` itself); `body` resolves to the
 * raw body once it is in. A handler that throws or rejects answers 500 with the error message.
 */
// Returns unknown so `(_req, res) => res.end(x)` fits; a returned promise is awaited for failures.
export type Handler = (req: IncomingMessage, res: ServerResponse, body: Promise<string>) => unknown;

export interface LoopbackServer {
  /** `http://127.0.0.1:<port>`; for a unix socket `http://localhost` (use socketPath to connect). */
  url: string;
  /** Set when the server listens on a unix socket (a fake Docker Engine). */
  socketPath?: string;
  /** Requests that arrived so far (answered or not). */
  requests: number;
  /** Every request whose body arrived in full, in order. */
  received: RecordedRequest[];
  /** How many requests arrived for this path (query included, as in req.url). */
  hits(path: string): number;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Listen on a unix socket (in a fresh mkdtemp dir, removed by close) instead of a loopback port. */
  unixSocket?: boolean;
}

/** A real HTTP server on 127.0.0.1 with a free port (or a unix socket); close() also drops hung connections. */
export async function startHttpServer(handler: Handler, options: StartOptions = {}): Promise<LoopbackServer> {
  const sockets = new Set<Socket>();
  const received: RecordedRequest[] = [];
  const arrived: string[] = [];
  const server: Server = createServer((req, res) => {
    arrived.push(req.url ?? '');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    const body = new Promise<string>((resolve) => {
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: raw, atMs: Date.now() });
        resolve(raw);
      });
    });
    const fail = (err: unknown): void => {
      if (res.headersSent) res.destroy();
      else res.writeHead(500).end(`test peer handler failed: ${String(err)}`);
    };
    try {
      const done = handler(req, res, body);
      if (done instanceof Promise) done.catch(fail);
    } catch (err) {
      fail(err);
    }
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const dir = options.unixSocket ? mkdtempSync(join(tmpdir(), 'owd-peer-')) : undefined;
  const socketPath = dir === undefined ? undefined : join(dir, 'peer.sock');
  await new Promise<void>((resolve) => (socketPath ? server.listen(socketPath, resolve) : server.listen(0, '127.0.0.1', resolve)));
  const url = socketPath ? 'http://localhost' : `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    socketPath,
    get requests() {
      return arrived.length;
    },
    received,
    hits: (path) => arrived.filter((url) => url === path).length,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Canned peer behaviours, so a test names the failure mode it exercises instead of hand-writing it. */
export const answer = {
  /** Accepts and reads the request, never answers (a hung orchestrator or dependency). */
  hang: (): Handler => () => undefined,
  /** A status with an optional body and headers. */
  status:
    (status: number, body = '', headers: Record<string, string> = {}): Handler =>
    (_req, res) => {
      res.writeHead(status, headers).end(body);
    },
  json:
    (value: unknown, status = 200): Handler =>
    (_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    },
  /** A redirect; the client under test must not follow it unless it says so. */
  redirect:
    (location: string, status = 302): Handler =>
    (_req, res) => {
      res.writeHead(status, { location }).end();
    },
  /** Sends the headers and one chunk per interval; ends only when the chunks run out and `end` is set. */
  trickle:
    (chunks: string[], intervalMs: number, { status = 200, end = false } = {}): Handler =>
    (_req, res) => {
      res.writeHead(status);
      const queue = [...chunks];
      const timer = setInterval(() => {
        const next = queue.shift();
        if (next !== undefined) res.write(next);
        else {
          clearInterval(timer);
          if (end) res.end();
        }
      }, intervalMs);
      res.on('close', () => clearInterval(timer));
    },
  /** Drops the connection without an answer (a daemon that died mid-request). */
  drop: (): Handler => (req) => {
    req.socket.destroy();
  },
  /** Answers per path (req.url without the query); anything else is a 404. */
  routes:
    (table: Record<string, Handler>, fallback: Handler = answer.status(404)): Handler =>
    (req, res, body) => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      (table[path] ?? fallback)(req, res, body);
    },
  /** Takes the next scripted handler per request; the fallback answers once the script is used up. */
  script: (steps: Handler[], fallback: Handler): Handler => {
    const queue = [...steps];
    return (req, res, body) => (queue.shift() ?? fallback)(req, res, body);
  },
};

export interface SilentPeer {
  url: string;
  socketPath?: string;
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

/** Accepts TCP (or unix socket) connections and never says a byte: not even an HTTP status line. */
export async function startSilentPeer(options: StartOptions = {}): Promise<SilentPeer> {
  const held = new Set<Socket>();
  let connections = 0;
  const server = createNetServer((s) => {
    connections += 1;
    held.add(s);
    s.on('close', () => held.delete(s));
  });
  const dir = options.unixSocket ? mkdtempSync(join(tmpdir(), 'owd-peer-')) : undefined;
  const socketPath = dir === undefined ? undefined : join(dir, 'peer.sock');
  await new Promise<void>((resolve) => (socketPath ? server.listen(socketPath, resolve) : server.listen(0, '127.0.0.1', resolve)));
  return {
    url: socketPath ? 'http://localhost' : `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    socketPath,
    get connections() {
      return connections;
    },
    close: async () => {
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A loopback port that was free a moment ago (for a child process that binds it itself). */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A port that was free a moment ago and has nothing listening: connections are refused. */
export async function refusedUrl(path = ''): Promise<string> {
  return `http://127.0.0.1:${await freePort()}${path}`;
}
