/**
 * Where GET /signals's distance to the Fastify hello-world comes from (issue 22 item 3), without
 * the scan: the hello-world with, one at a time, what the server has and it has not (the socket
 * limits of src/http-server.ts, the server's pino logger, `npm start`'s --max-semi-space-size),
 * then all of them, then the server itself (default config: no /proc scan) on GET /signals and
 * GET /healthz. Each contender is its own process; wrk (a second process, 1 thread, 32
 * connections) drives them round-robin, --rounds times, --wrk-s each. Prints req/s and p99, each
 * against the plain hello-world's median. Run with `bash bench/api-variants.sh`.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { killAllGroups } from './process-group.js';
import { launchFlags, startHealthy } from './launch-server.js';

const { values: flags } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, 'wrk-s': { type: 'string', default: '5' } },
});
for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => process.exit(130));

interface Contender {
  label: string;
  args: string[];
  env: Record<string, string>;
  path: string;
}
const HELLO = 'dist/bench-build/bench/hello-world.js';
const SERVER = 'dist/src/server.js';
const semi = launchFlags();
const CONTENDERS: Contender[] = [
  { label: 'hello-world GET / (the reference)', args: [HELLO], env: {}, path: '/' },
  { label: `hello-world + ${semi.join(' ') || '(npm start adds no flags)'}`, args: [...semi, HELLO], env: {}, path: '/' },
  { label: 'hello-world + the socket limits (src/http-server.ts)', args: [HELLO], env: { BENCH_HELLO_LIMITS: '1' }, path: '/' },
  { label: "hello-world + the server's logger", args: [HELLO], env: { BENCH_HELLO_LOGGER: '1' }, path: '/' },
  {
    label: 'hello-world + all three',
    args: [...semi, HELLO],
    env: { BENCH_HELLO_LIMITS: '1', BENCH_HELLO_LOGGER: '1' },
    path: '/',
  },
  { label: 'server GET /signals, as npm start launches it', args: [...semi, SERVER], env: {}, path: '/signals' },
  { label: 'server GET /signals, plain node', args: [SERVER], env: {}, path: '/signals' },
  { label: 'server GET /healthz, as npm start launches it', args: [...semi, SERVER], env: {}, path: '/healthz' },
];

function wrk(port: number, path: string): { rps: number; p99Ms: number } {
  const out = execFileSync('wrk', ['-t1', '-c32', `-d${flags['wrk-s']}s`, '--latency', `http://127.0.0.1:${port}${path}`], {
    encoding: 'utf8',
    timeout: (Number(flags['wrk-s']) + 30) * 1000,
  });
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)$/m.exec(out);
  const unit = { us: 0.001, ms: 1, s: 1000 }[(p99?.[2] ?? 'ms') as 'us' | 'ms' | 's'];
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]), p99Ms: Number(p99?.[1]) * unit };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  console.log(`node ${process.version}, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  const started: { c: Contender; child: ChildProcess; port: number }[] = [];
  for (const c of CONTENDERS) {
    const { child, port } = await startHealthy(c.args, c.env);
    started.push({ c, child, port });
  }
  const results = started.map(() => ({ rps: [] as number[], p99: [] as number[] }));
  for (let r = 0; r < Number(flags.rounds); r++)
    started.forEach((s, i) => {
      const w = wrk(s.port, s.c.path);
      results[i]!.rps.push(w.rps);
      results[i]!.p99.push(w.p99Ms);
    });
  const ref = median(results[0]!.rps);
  console.log(`\n| contender (wrk -t1 -c32 -d${flags['wrk-s']}s, median of ${flags.rounds}) | req/s | × the hello-world | p99 |`);
  console.log('| --- | ---: | ---: | ---: |');
  started.forEach((s, i) => {
    const rps = median(results[i]!.rps);
    console.log(
      `| ${s.c.label} | ${Math.round(rps).toLocaleString('en')} | ${(rps / ref).toFixed(2)} | ${median(results[i]!.p99).toFixed(1)} ms |`,
    );
  });
  console.log(`load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
}

try {
  await main();
} finally {
  killAllGroups();
}
