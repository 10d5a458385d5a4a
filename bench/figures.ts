/**
 * Issue 22's table, every row against its reference measured in the same run, `--runs` times
 * (3 by default) with the spread shown. Each run starts bench/proc-scan.js (row 1: a full tick's
 * /proc work at 5,000 processes vs the Python one-stat-per-pid loop and prometheus-process-exporter)
 * and then bench/footprint.js --phases start,idle,scan (rows 2-5: GET /signals vs the Fastify
 * hello-world with wrk as a second process while 5,000 processes are scanned every second, idle
 * RSS vs the hello-world, RSS while scanning with churn over 4 minutes, start to the first
 * /healthz answer and 200), reads the `FIGURES {json}` line each prints, and prints one markdown
 * table at the end. Run with `bash bench/figures.sh` (as root; it builds and installs what the
 * benches need). Flags: --runs 3, --scan-s 240, --wrk-s 10, --wrk-rounds 3, --start-rounds 5,
 * --rounds 15 (proc-scan ticks), --out FILE (the table and every run's output, appended).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'scan-s': { type: 'string', default: '240' },
    'wrk-s': { type: 'string', default: '10' },
    'wrk-rounds': { type: 'string', default: '3' },
    'start-rounds': { type: 'string', default: '5' },
    rounds: { type: 'string', default: '15' },
    out: { type: 'string' },
  },
});

type Figures = Record<string, number | string | boolean | null>;

const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function say(line: string): void {
  console.log(line);
  if (flags.out) appendFileSync(flags.out, `${line}\n`);
}

/** Runs `node script args`, echoing its output, and returns the figures of its `FIGURES {json}` line. */
function runBench(script: string, args: string[], env: Record<string, string> = {}): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      process.stdout.write(d);
      if (flags.out) appendFileSync(flags.out, d);
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = /^FIGURES (.*)$/m.exec(out)?.[1];
      if (code !== 0 || line === undefined) reject(new Error(`${script} exited with ${code}${line ? '' : ', no FIGURES line'}`));
      else resolve(JSON.parse(line) as Figures);
    });
  });
}

interface Row {
  measure: string;
  goal: string;
  /** The figure of one run, from its two benches' figures. */
  value: (scan: Figures, foot: Figures) => number;
  show: (v: number) => string;
  /** Whether a figure meets the goal. */
  meets: (v: number) => boolean;
}

const n = (f: Figures, k: string): number => Number(f[k]);
const x2 = (v: number): string => `${v.toFixed(2)} ×`;
const x1 = (v: number): string => `${v.toFixed(1)} ×`;
const ms = (v: number): string => `${Math.round(v).toLocaleString('en')} ms`;
const ms1 = (v: number): string => `${v.toFixed(1)} ms`;
const mb = (v: number): string => `${v.toFixed(1)} MB`;
const pct = (v: number): string => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(1)} %`;

const ROWS: Row[] = [
  {
    measure: 'full tick /proc work, 5,000 processes ÷ Python loop',
    goal: '≤ 0.3 ×',
    value: (s) => n(s, 'tick_ms') / n(s, 'reference_ms'),
    show: x2,
    meets: (v) => v <= 0.3,
  },
  {
    measure: 'process-exporter scrape ÷ full tick',
    goal: '≥ 80 ×',
    value: (s) => n(s, 'exporter_ms') / n(s, 'tick_ms'),
    show: x1,
    meets: (v) => v >= 80,
  },
  {
    measure: 'GET /signals req/s ÷ hello-world, scanning 5,000/s',
    goal: '≥ 0.9 ×',
    value: (_, f) => n(f, 'signals_rps') / n(f, 'hello_rps'),
    show: x2,
    meets: (v) => v >= 0.9,
  },
  {
    measure: 'GET /signals p99, scanning 5,000/s',
    goal: '≤ 5 ms',
    value: (_, f) => n(f, 'signals_p99_ms'),
    show: ms1,
    meets: (v) => v <= 5,
  },
  { measure: '… hello-world p99 in the same moment', goal: '—', value: (_, f) => n(f, 'hello_p99_ms'), show: ms1, meets: () => true },
  {
    measure: 'idle RSS ÷ hello-world, as `npm start` launches it',
    goal: '≤ 1.2 ×',
    value: (_, f) => n(f, 'idle_launched_mb') / n(f, 'idle_hello_mb'),
    show: x2,
    meets: (v) => v <= 1.2,
  },
  {
    measure: 'idle RSS ÷ hello-world, plain `node dist/src/server.js`',
    goal: '≤ 1.2 ×',
    value: (_, f) => n(f, 'idle_node_mb') / n(f, 'idle_hello_mb'),
    show: x2,
    meets: (v) => v <= 1.2,
  },
  { measure: '… idle RSS of the hello-world', goal: '—', value: (_, f) => n(f, 'idle_hello_mb'), show: mb, meets: () => true },
  {
    measure: 'RSS max, scanning 5,000/s with churn, 4 min',
    goal: '≤ 100 MB',
    value: (_, f) => n(f, 'scan_rss_max_mb'),
    show: mb,
    meets: (v) => v <= 100,
  },
  {
    measure: '… trend over the last 3 min (least squares)',
    goal: 'flat (± 5 %)',
    value: (_, f) => n(f, 'scan_rss_tail_change_pct'),
    show: pct,
    meets: (v) => Math.abs(v) <= 5,
  },
  ...(
    [
      ['node dist/src/server.js', 'node', 500],
      ['`npm start`', 'npm', 1000],
    ] as const
  ).flatMap(([label, key, goal]): Row[] => [
    ...(['Cache', ''] as const).flatMap((cache): Row[] => [
      {
        measure: `start to first /healthz answer (503), ${label}, ${cache ? 'compile cache' : 'no compile cache'}`,
        goal: `≤ ${goal} ms`,
        value: (_, f) => n(f, `start_${key}${cache}_first_ms`),
        show: ms,
        meets: (v) => v <= goal,
      },
      {
        measure: `start to first /healthz 200, ${label}, ${cache ? 'compile cache' : 'no compile cache'}`,
        goal: `≤ ${goal} ms`,
        value: (_, f) => n(f, `start_${key}${cache}_ok_ms`),
        show: ms,
        meets: (v) => v <= goal,
      },
    ]),
  ]),
  {
    measure: '… start to first /healthz of the hello-world',
    goal: '—',
    value: (_, f) => n(f, 'start_hello_ms'),
    show: ms,
    meets: () => true,
  },
  ...(
    [
      ['node dist/src/server.js', 'nodeCache'],
      ['`npm start`', 'npmCache'],
    ] as const
  ).map(([label, key]): Row => ({
    measure: `… first /healthz answer ÷ the hello-world's, ${label}, compile cache`,
    goal: '—',
    value: (_, f) => n(f, `start_${key}_first_ms`) / n(f, 'start_hello_ms'),
    show: x2,
    meets: () => true,
  })),
];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const runs = Number(flags.runs);
  const results: { scan: Figures; foot: Figures; loads: string[] }[] = [];
  for (let r = 1; r <= runs; r++) {
    say(`\n=== run ${r} of ${runs}, node ${process.version}, load average ${loadavg()} ===`);
    const loads = [loadavg()];
    const scan = await runBench('dist/bench-build/bench/proc-scan.js', [], { BENCH_ROUNDS: flags.rounds });
    loads.push(loadavg());
    const foot = await runBench('dist/bench-build/bench/footprint.js', [
      '--phases',
      'start,idle,scan',
      '--scan-s',
      flags['scan-s'],
      '--wrk-s',
      flags['wrk-s'],
      '--wrk-rounds',
      flags['wrk-rounds'],
      '--start-rounds',
      flags['start-rounds'],
    ]);
    loads.push(loadavg());
    results.push({ scan, foot, loads });
  }
  say(`\nIssue 22's figures on node ${process.version}, ${runs} runs (each figure against its reference in the same run):\n`);
  say(`| measure | goal | ${results.map((_, i) => `run ${i + 1}`).join(' | ')} | spread | median |`);
  say(`| --- | --- | ${results.map(() => '---:').join(' | ')} | ---: | ---: |`);
  for (const row of ROWS) {
    const vs = results.map((r) => row.value(r.scan, r.foot));
    const med = median(vs);
    const spread = `${row.show(Math.min(...vs))} – ${row.show(Math.max(...vs))}`;
    const verdict = row.goal === '—' ? '' : row.meets(med) ? ' (met)' : ' (**missed**)';
    say(`| ${row.measure} | ${row.goal} | ${vs.map(row.show).join(' | ')} | ${spread} | ${row.show(med)}${verdict} |`);
  }
  say(
    `| load average (1, 5, 15 min) at start / after proc-scan / after footprint | — | ${results.map((r) => r.loads.join('; ')).join(' | ')} | | |`,
  );
}

await main();
