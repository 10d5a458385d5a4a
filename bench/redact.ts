/**
 * Redaction benchmark (issue 21): the linear scanner of src/redact.ts at 10 KB, 100 KB and 1 MB,
 * on typical text and on the inputs that made the former regular expressions quadratic; the
 * former rules (bench/redact-regex-reference.ts) run beside it at the sizes they finish in time.
 * Prints, per input: ms and µs/KB at each size, the growth of µs/KB from 10 KB to 1 MB (1.0 =
 * linear), the characters looked at per character (the deterministic measure the tests use),
 * and the regex reference's time and its ratio to the scanner. Run with `bash bench/redact.sh`.
 */
import { performance } from 'node:perf_hooks';
import { measureRedaction, redactSecrets } from '../src/redact.js';
import { redactWithRegexes } from './redact-regex-reference.js';

const SIZES = [10_000, 100_000, 1_000_000];
/** The regex reference is skipped where one call would take longer than this (its 1 MB letters: ~20 min). */
const REFERENCE_BUDGET_MS = Number(process.env.BENCH_REFERENCE_BUDGET_MS ?? 20_000);

const repeatTo = (unit: string, chars: number): string => unit.repeat(Math.ceil(chars / unit.length)).slice(0, chars);

const TYPICAL =
  'python3 -m pytest tests/test_api.py -x --maxfail 3 -k "slow and not net" --junitxml=out.xml\n' +
  '{"status": "unhealthy", "output": "GET http://db:5432/health failed: connection refused", "password": "hunter2"}\n' +
  'curl -sS -H "Authorization: Bearer abc.def" https://api.example.com/v1/items?page=2&access_token=xyz\n' +
  'env DB_PASSWORD=s3cret MY_TOKEN=tok PATH=/usr/bin:/bin node dist/src/server.js --port 8787\n';

const INPUTS: [string, string][] = [
  ['typical mix (command lines, JSON, curl, env)', TYPICAL],
  ['one run of letters', 'a'],
  ["a run of '='", '='],
  ["'a=' pairs", 'a='],
  ["':'/'@' URL-ish fragments 'a:b@'", 'a:b@'],
  ["'x://a:' scheme fragments", 'x://a:'],
  ["' -a' flags", ' -a'],
  ["unclosed quotes '--x=\"'", '--x="'],
  ["'Authorization: '", 'Authorization: '],
  ["'mysql x ' (a -p search per word)", 'mysql x '],
  ["'eyJa-' (JWT starts)", 'eyJa-'],
];

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

function timeMs(fn: () => void, rounds: number): number {
  const times: number[] = [];
  for (let k = 0; k < rounds; k += 1) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  return median(times);
}

const fmt = (n: number, digits = 1): string => n.toFixed(digits);

// warm the JIT on every rule before anything is timed
for (const [, unit] of INPUTS) for (let k = 0; k < 5; k += 1) redactSecrets(repeatTo(unit, 50_000));

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11);

/** Median ms of the scanner per size, the sizes interleaved round by round so the host's noise hits each alike. */
function scannerMs(texts: string[]): number[] {
  const times = texts.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r += 1) {
    texts.forEach((text, i) => {
      const t = performance.now();
      redactSecrets(text);
      times[i]!.push(performance.now() - t);
    });
  }
  return times.map(median);
}

console.log('input | size | scanner ms | µs/KB | looked at / char | regex reference ms | regex / scanner');
for (const [name, unit] of INPUTS) {
  const texts = SIZES.map((size) => repeatTo(unit, size));
  const times = scannerMs(texts);
  const perKb = times.map((t, i) => (t * 1000) / (SIZES[i]! / 1000));
  let referenceMs: number | null = 0;
  texts.forEach((text, i) => {
    const size = SIZES[i]!;
    const steps = measureRedaction(text).steps / size;
    // the reference may grow quadratically: 10× the text projects to 100× its previous time
    const projected: number = i === 0 ? 0 : referenceMs === null ? Infinity : referenceMs * 100;
    referenceMs = projected <= REFERENCE_BUDGET_MS ? timeMs(() => redactWithRegexes(text), size >= 1_000_000 ? 1 : 3) : null;
    const ref = referenceMs === null ? 'skipped (projected > budget)' : fmt(referenceMs);
    const ratio = referenceMs === null ? '' : `${fmt(referenceMs / times[i]!)} ×`;
    console.log(`${name} | ${size / 1000} KB | ${fmt(times[i]!, 2)} | ${fmt(perKb[i]!)} | ${fmt(steps)} | ${ref} | ${ratio}`);
  });
  console.log(
    `${name} | µs/KB at 100 KB and 1 MB over 10 KB: ${fmt(perKb[1]! / perKb[0]!, 2)}, ${fmt(perKb[2]! / perKb[0]!, 2)} (1.0 = linear)`,
  );
}
