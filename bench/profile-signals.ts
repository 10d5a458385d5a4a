/**
 * Where GET /signals spends its time against the Fastify hello-world, and what the heap holds
 * (issue 22 items 3 and 4). Starts bench/sleepers.c (5,000 processes, 250 replaced a second),
 * the server with the /proc scan on (a tick a second, as `npm start` launches it) and the
 * hello-world, both under `--cpu-prof`; drives each with wrk (a second process; 1 thread, 32
 * connections) one after the other; stops both (the profiles are written at exit) and prints each
 * profile's self time over its wrk window, by origin (our code, fastify, zod, node http, GC, ...)
 * and by function. Heap snapshots (`--heapsnapshot-signal=SIGUSR2`, so nothing in src/): the
 * idle server (default config) and the hello-world after 15 s, the scanning server after
 * --scan-s of scanning and after its wrk; each summarized by constructor.
 * Files go to --dir (dist/bench-build/profile). Run with `bash bench/profile-signals.sh`.
 * Flags: --dir, --procs 5000, --churn 250, --wrk-s 10, --scan-s 60, --no-heap, --no-cpu.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { killAllGroups, launchGroup } from './process-group.js';
import { summarizeCpuProfile, summarizeHeapSnapshot } from './profile-summary.js';
import { launchFlags, startHealthy } from './launch-server.js';

const { values: flags } = parseArgs({
  options: {
    dir: { type: 'string', default: 'dist/bench-build/profile' },
    procs: { type: 'string', default: '5000' },
    churn: { type: 'string', default: '250' },
    'wrk-s': { type: 'string', default: '10' },
    'scan-s': { type: 'string', default: '60' },
    'no-heap': { type: 'boolean', default: false },
    'no-cpu': { type: 'boolean', default: false },
  },
});
const DIR = resolve(flags.dir);
const WRK_S = Number(flags['wrk-s']);
for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => process.exit(130));

const monoUs = (): number => Number(process.hrtime.bigint() / 1000n);
const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

interface Started {
  name: string;
  child: ChildProcess;
  port: number;
  dir: string;
}

async function start(name: string, script: string, env: Record<string, string>, cpu: boolean): Promise<Started> {
  const dir = join(DIR, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const nodeFlags = [
    ...(script.endsWith('server.js') ? launchFlags() : []),
    ...(cpu ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []),
    '--heapsnapshot-signal=SIGUSR2',
    `--diagnostic-dir=${dir}`,
  ];
  const { child, port } = await startHealthy([...nodeFlags, script], env);
  return { name, child, port, dir };
}

/** SIGUSR2, then waits for the snapshot file to be complete; prints its summary. */
async function heapSnapshot(s: Started, label: string): Promise<void> {
  if (flags['no-heap']) return;
  const before = new Set(readdirSync(s.dir));
  const rss = rssMb(s.child.pid!);
  process.kill(s.child.pid!, 'SIGUSR2');
  let file = '';
  for (let i = 0; i < 600 && !file; i++) {
    await delay(200);
    const f = readdirSync(s.dir).find((n) => n.endsWith('.heapsnapshot') && !before.has(n));
    // written in one go; a complete file ends with the strings array's closing
    if (f && readFileSync(join(s.dir, f), 'utf8').trimEnd().endsWith(']}')) file = f;
  }
  if (!file) throw new Error(`${s.name}: no heap snapshot`);
  const h = summarizeHeapSnapshot(join(s.dir, file));
  console.log(`\nheap snapshot, ${label} (RSS ${rss.toFixed(1)} MB; heap ${h.totalMb.toFixed(1)} MB; ${join(s.dir, file)}):`);
  console.log(`  by type: ${h.byType.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')} (MB)`);
  console.log('  by constructor (self MB, count):');
  for (const [k, v, c] of h.byConstructor) console.log(`    ${v.toFixed(2).padStart(6)}  ${String(c).padStart(7)}  ${k}`);
}

function wrk(port: number, path: string): { window: [number, number]; out: string } {
  const from = monoUs();
  const out = execFileSync('wrk', ['-t1', '-c32', `-d${WRK_S}s`, '--latency', `http://127.0.0.1:${port}${path}`], {
    encoding: 'utf8',
    timeout: (WRK_S + 30) * 1000,
  });
  return { window: [from, monoUs()], out };
}
const wrkLine = (out: string): string =>
  `${/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]} req/s, p50 ${/^\s+50%\s+(\S+)$/m.exec(out)?.[1]}, p99 ${/^\s+99%\s+(\S+)$/m.exec(out)?.[1]}`;

async function stop(s: Started): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  process.kill(s.child.pid!, 'SIGTERM');
  if ((await Promise.race([exited, delay(20_000, 'late')])) === 'late') process.kill(-s.child.pid!, 'SIGKILL');
}

function printProfile(s: Started, window: [number, number]): void {
  const file = readdirSync(s.dir).find((n) => n.endsWith('.cpuprofile'));
  if (!file) return console.log(`${s.name}: no .cpuprofile in ${s.dir}`);
  const p = summarizeCpuProfile(join(s.dir, file), window[0], window[1]);
  console.log(`\n--cpu-prof of ${s.name} over its wrk window: ${p.totalMs.toFixed(0)} ms sampled (${join(s.dir, file)})`);
  console.log('  self time by origin:');
  for (const [k, v] of p.byOrigin.slice(0, 14)) console.log(`    ${((v / p.totalMs) * 100).toFixed(1).padStart(5)} %  ${k}`);
  console.log('  top self time by function:');
  for (const [k, v] of p.topSelf) console.log(`    ${((v / p.totalMs) * 100).toFixed(1).padStart(5)} %  ${k}`);
}

async function main(): Promise<void> {
  const cpu = !flags['no-cpu'];
  console.log(`node ${process.version}, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  // idle: default config, no scan
  const idle = await start('idle-server', 'dist/src/server.js', {}, false);
  const helloIdle = await start('idle-hello', 'dist/bench-build/bench/hello-world.js', {}, false);
  await delay(15_000);
  await heapSnapshot(helloIdle, 'hello-world, idle');
  await heapSnapshot(idle, 'server, idle (default config)');
  await stop(idle);
  await stop(helloIdle);

  const sleepers = launchGroup('dist/bench-build/sleepers', [flags.procs, flags.churn, ' '.repeat(96)]);
  await new Promise<void>((res) => sleepers.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && res()));
  const env = { WATCHDOG_PROC_ENABLED: 'true', WATCHDOG_TICK_S: '1', WATCHDOG_PROC_MATCH: 'cmdline' };
  const server = await start('scan-server', 'dist/src/server.js', env, cpu);
  const hello = await start('hello', 'dist/bench-build/bench/hello-world.js', {}, cpu);
  await delay(Number(flags['scan-s']) * 1000);
  await heapSnapshot(server, `server, scanning ${flags.procs} processes/s for ${flags['scan-s']} s`);
  const h = wrk(hello.port, '/');
  const o = wrk(server.port, '/signals');
  console.log(`\nhello-world GET /: ${wrkLine(h.out)}\nserver GET /signals: ${wrkLine(o.out)}`);
  await heapSnapshot(server, 'server, scanning, after wrk');
  await stop(server);
  await stop(hello);
  if (cpu) {
    printProfile(hello, h.window);
    printProfile(server, o.window);
  }
}

try {
  await main();
} finally {
  killAllGroups();
}
