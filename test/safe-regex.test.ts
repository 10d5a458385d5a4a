import { describe, expect, it } from 'vitest';
import { whyNotLinear } from '../src/safe-regex.js';

/** What the callers do: refuse a source whyNotLinear names a reason for, else compile it with `l`. */
function compileLinear(source: string, flags = ''): RegExp {
  expect(whyNotLinear(source, flags)).toBeNull();
  return new RegExp(source, `${flags}l`);
}

// Incident guarded: WATCHDOG_PROC_PATTERNS=(a+)+$ passed check-config and one process named
// "aaaa…!" pinned a core; the default lock pattern Timeout.*acquir.*lock was cubic on a test's output.
describe('safe-regex: user and default patterns run in linear time', () => {
  it('a catastrophic pattern compiles and runs linearly on its worst input', () => {
    const re = compileLinear('(a+)+$');
    expect(re.flags).toContain('l');
    const text = `${'a'.repeat(200_000)}!`;
    const startedMs = performance.now();
    expect(re.test(text)).toBe(false);
    // the backtracking engine needs longer than the universe's age for this; linear is milliseconds
    expect(performance.now() - startedMs).toBeLessThan(5_000);
  });

  it('the default lock patterns still match what they are for', () => {
    expect(compileLinear('Timeout.*acquir.*lock', 'm').test('Timeout while acquiring the lock')).toBe(true);
    expect(compileLinear(String.raw`index\.lock.*File exists`).test("fatal: Unable to create '/r/.git/index.lock': File exists.")).toBe(
      true,
    );
    expect(compileLinear('pytest').test('/usr/bin/python3 -m pytest -q')).toBe(true);
  });

  it.each([
    [String.raw`(a)\1`, /backreference \(\\1\)/],
    [String.raw`(?<n>a)\k<n>`, /named backreference/],
    ['(?=a)a', /lookahead/],
    ['(?!a)b', /lookahead/],
    ['a{0,100}', /counted repetition above \{16\} \(\{0,100\}\)/],
    ['([', /not a valid regular expression: Unterminated/],
  ])('/%s/ is rejected with the reason', (source, reason) => {
    expect(whyNotLinear(source)).toMatch(reason);
  });

  it("lookbehind runs linear on Node 24 (its V8 engine gained it; Node 20's refused it), and is not named as the reason a pattern with a lookahead after it fails", () => {
    const re = compileLinear('(?<=lock )held');
    expect(re.test('the lock held')).toBe(true);
    expect(re.test('unheld')).toBe(false);
    expect(compileLinear('(?<!no )lock').test('no lock')).toBe(false);
    expect(whyNotLinear('(?<=a)b(?=c)')).toMatch(/^a lookahead \(\?=…\)/);
  });

  it('escaped and bracketed look-alikes are not mistaken for the constructs', () => {
    for (const source of [String.raw`\(\?=x`, '[(?=]', String.raw`\\1`, 'a{16}', String.raw`\{100\}`])
      expect(whyNotLinear(source)).toBeNull();
  });

  it('a flag the engine lacks is named', () => {
    expect(whyNotLinear('pytest', 'i')).toMatch(/"i" flag/);
  });
});
