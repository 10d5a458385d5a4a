/**
 * Merge-gate output scan benchmark: scanOutput (src/merge-gate/classify.ts) on a 1 MiB stdout
 * and stderr of ordinary pytest output (the reference), and of inputs shaped against each of its
 * regular expressions; it reads the last 64 KiB of each stream in 256-char windows, so every
 * input should cost about what the reference costs. Beside it, the summary regex it had before
 * (`^Tests: .*\d+ total`, quadratic in a window of digits) and the one it has now, per window.
 * Prints medians in ms and the ratio to the reference. Run with `bash bench/output-scan.sh`.
 */
import { performance } from 'node:perf_hooks';
import { compileLockPatterns, scanOutput } from '../src/merge-gate/classify.js';
import { testConfig } from '../test/support/app.js';

const MIB = 1024 * 1024;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const patterns = compileLockPatterns(testConfig().mergeLockPatterns).sources;

const repeatTo = (unit: string, chars: number): string => unit.repeat(Math.ceil(chars / unit.length)).slice(0, chars);

const INPUTS: [string, string][] = [
  ['ordinary pytest output (reference)', 'tests/test_api.py::test_items PASSED                      [ 42%]\n'],
  ['"Timeoutacquir" (the lock patterns)', 'Timeoutacquir'],
  ['"Tests: " and a line of digits (summary)', `Tests: ${'1'.repeat(4000)}\n`],
  ['"=/" pairs (paths)', '=/'],
  ['dots (lock file names)', '.'],
];

function medianMs(fn: () => void): number {
  const times: number[] = [];
  for (let k = 0; k < ROUNDS; k += 1) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  return [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

let referenceMs = 0;
console.log(`output scan, 1 MiB per stream, median of ${ROUNDS}; node ${process.version}`);
for (const [name, unit] of INPUTS) {
  const text = repeatTo(unit, MIB);
  const ms = medianMs(() => scanOutput({ stdout: text, stderr: text }, patterns));
  referenceMs ||= ms;
  console.log(`  ${name}: ${ms.toFixed(1)} ms (${(ms / referenceMs).toFixed(2)}x the reference)`);
}

const window = `Tests: ${'1'.repeat(249)}`;
const before = /\b\d+ (passed|failed|errors?)\b|\bRan \d+ tests?\b|^Tests: .*\d+ total|^# (pass|fail) +\d+|\btests? (passed|failed)\b/;
const after = /\b\d+ (passed|failed|errors?)\b|\bRan \d+ tests?\b|^Tests: .*\d total|^# (pass|fail) +\d+|\btests? (passed|failed)\b/;
const perWindowUs = (re: RegExp): number => (medianMs(() => Array.from({ length: 10_000 }, () => re.test(window))) * 1000) / 10_000;
const [beforeUs, afterUs] = [perWindowUs(before), perWindowUs(after)];
console.log(
  `summary regex on a 256-char "Tests: 111…" window: before ${beforeUs.toFixed(2)} µs, now ${afterUs.toFixed(2)} µs (${(beforeUs / afterUs).toFixed(0)}x)`,
);
