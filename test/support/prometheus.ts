import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real Prometheus (Debian's `prometheus`) on a free loopback port with its own temp config and
 * storage, for tests that need the real scraper and PromQL engine. Call stop() in afterAll.
 */

export interface PrometheusOptions {
  /** host:port targets scraped as job "orch-watchdog". */
  targets: string[];
  scrapeIntervalS?: number;
  /** Rule files copied in and loaded (absolute paths). */
  ruleFiles?: string[];
}

export interface QueryAnswer {
  httpStatus: number;
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

export interface Prometheus {
  url: string;
  dir: string;
  /** GET /api/v1/query at the current time; never throws on a PromQL error (see status/error). */
  query(expr: string): Promise<QueryAnswer>;
  /** GET /api/v1/label/__name__/values: every metric name Prometheus has stored. */
  metricNames(): Promise<string[]>;
  /** Polls `expr` until it returns at least one sample, or throws with the log after timeoutMs. */
  waitFor(expr: string, timeoutMs?: number): Promise<QueryAnswer>;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

export const PROMETHEUS_BIN = 'prometheus';
const READY_TIMEOUT_MS = 30_000;

const live = new Map<ChildProcess, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A failed or aborted test file leaves no Prometheus and no temp dir behind.
  process.on('exit', () => {
    for (const [child, dir] of live) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function configYaml(opts: PrometheusOptions, ruleNames: string[]): string {
  const interval = `${opts.scrapeIntervalS ?? 1}s`;
  return [
    'global:',
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    ...(ruleNames.length > 0 ? ['rule_files:', ...ruleNames.map((r) => `  - ${r}`)] : []),
    'scrape_configs:',
    '  - job_name: orch-watchdog',
    '    static_configs:',
    `      - targets: [${opts.targets.map((t) => `'${t}'`).join(', ')}]`,
    '',
  ].join('\n');
}

export async function startPrometheus(opts: PrometheusOptions): Promise<Prometheus> {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'owd-prom-'));
  const ruleNames = (opts.ruleFiles ?? []).map((file, i) => {
    const name = `rules-${i}.yml`;
    writeFileSync(join(dir, name), readFileSync(file));
    return name;
  });
  writeFileSync(join(dir, 'prometheus.yml'), configYaml(opts, ruleNames));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logPath = join(dir, 'prometheus.log');
  const logFd = openSync(logPath, 'a');
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  live.set(child, dir);
  let exited = null as string | null;
  child.once('exit', (code, signal) => (exited = `prometheus exited (${signal ?? code})`));
  child.once('error', (err) => (exited = `prometheus could not start: ${err.message}`));

  const logTail = (lines = 30) => {
    try {
      return readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await Promise.race([gone, sleep(10_000).then(() => child.kill('SIGKILL'))]);
    }
    live.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited !== null) {
      const why = `${exited}\n--- prometheus log ---\n${logTail()}`;
      await stop();
      throw new Error(why);
    }
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      const why = `prometheus not ready within ${READY_TIMEOUT_MS} ms\n${logTail()}`;
      await stop();
      throw new Error(why);
    }
    await sleep(100);
  }

  const query = async (expr: string): Promise<QueryAnswer> => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return { httpStatus: res.status, ...((await res.json()) as Omit<QueryAnswer, 'httpStatus'>) };
  };
  return {
    url,
    dir,
    query,
    async metricNames() {
      const res = await fetch(`${url}/api/v1/label/__name__/values`);
      return ((await res.json()) as { data: string[] }).data;
    },
    async waitFor(expr, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      let last: QueryAnswer | undefined;
      while (Date.now() < until) {
        last = await query(expr);
        if (last.status === 'success' && (last.data?.result.length ?? 0) > 0) return last;
        await sleep(250);
      }
      throw new Error(`no sample for ${expr} within ${timeoutMs} ms; last answer ${JSON.stringify(last)}\n${logTail()}`);
    },
    logTail,
    stop,
  };
}
