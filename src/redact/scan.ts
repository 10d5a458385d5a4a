// Each primitive reports what it looked at to a Meter, so a test proves the work linear without a clock.

/** Characters looked at; a redaction of n characters stays under a constant times n. */
export interface Meter {
  steps: number;
}

export type CharTest = (code: number) => boolean;

/** JavaScript's `\s`. A NaN code (past the end) is no class's member. */
export const isSpace: CharTest = (c) =>
  c === 32 ||
  (c >= 9 && c <= 13) ||
  c === 0xa0 ||
  c === 0x1680 ||
  (c >= 0x2000 && c <= 0x200a) ||
  c === 0x2028 ||
  c === 0x2029 ||
  c === 0x202f ||
  c === 0x205f ||
  c === 0x3000 ||
  c === 0xfeff;
export const isLetter: CharTest = (c) => (c | 32) >= 97 && (c | 32) <= 122;
export const isDigit: CharTest = (c) => c >= 48 && c <= 57;
export const isAlnum: CharTest = (c) => isLetter(c) || isDigit(c);
/** `\w` */
export const isWord: CharTest = (c) => isAlnum(c) || c === 95;
/** `[\w.-]`: the tail of a name or a flag */
export const isNameChar: CharTest = (c) => isWord(c) || c === 46 || c === 45;
/** `[A-Za-z_]`: the head of a name */
export const isNameStart: CharTest = (c) => isLetter(c) || c === 95;
/** `\S` */
export const isNonSpace: CharTest = (c) => c >= 0 && !isSpace(c);

export const code = (text: string, i: number): number => text.charCodeAt(i);

/** The end of the run of `test` characters starting at `from` (`from` itself when there is none). */
export function runEnd(text: string, from: number, test: CharTest, meter: Meter): number {
  let j = from;
  while (test(text.charCodeAt(j))) j += 1;
  meter.steps += j - from + 1;
  return j;
}

/** `literal` at `at`, letters compared case-insensitively (ASCII only, as the `i` flag does without `u`). */
export function startsWithCaseless(text: string, at: number, literal: string): boolean {
  if (at < 0 || at + literal.length > text.length) return false;
  for (let k = 0; k < literal.length; k += 1) {
    const want = literal.charCodeAt(k);
    const got = text.charCodeAt(at + k);
    if (isLetter(want) ? (got | 32) !== want || !isLetter(got) : got !== want) return false;
  }
  return true;
}

/** The start of the run of `test` characters that ends at `end`, never below `floor`. */
export function runStart(text: string, end: number, floor: number, test: CharTest, meter: Meter): number {
  let j = end;
  while (j > floor && test(text.charCodeAt(j - 1))) j -= 1;
  meter.steps += end - j + 1;
  return j;
}

/** Index of `literal` at or after `from`, or -1; what the search passes over is counted. */
export function find(text: string, literal: string, from: number, meter: Meter): number {
  const at = text.indexOf(literal, from);
  meter.steps += (at < 0 ? text.length : at) - from + 1;
  return at;
}

/** The next match of `pattern` (bounded-length alternatives, so linear) at or after `from`, or -1. */
export function findPattern(text: string, pattern: RegExp, from: number, meter: Meter): number {
  pattern.lastIndex = from;
  const at = pattern.exec(text)?.index ?? -1;
  meter.steps += (at < 0 ? text.length : at) - from + 1;
  return at;
}

/** `"[^"]*"|'[^']*'|\S+` at `at`: the end of the value, or -1 when there is none. */
export function quotedOrWordEnd(text: string, at: number, meter: Meter): number {
  const c = text.charCodeAt(at);
  if (c === 34 || c === 39) {
    const close = find(text, c === 34 ? '"' : "'", at + 1, meter);
    if (close >= 0) return close + 1;
  }
  const end = runEnd(text, at, isNonSpace, meter);
  return end > at ? end : -1;
}

/** Builds the output of one rule: unchanged stretches are copied once, replacements spliced in. */
export class Rewriter {
  private readonly parts: string[] = [];
  private copied = 0;
  private changed = false;

  constructor(private readonly text: string) {}

  replace(from: number, to: number, replacement: string): void {
    this.parts.push(this.text.slice(this.copied, from), replacement);
    this.copied = to;
    this.changed = true;
  }

  result(): string {
    if (!this.changed) return this.text;
    this.parts.push(this.text.slice(this.copied));
    return this.parts.join('');
  }
}

/** Where the next candidate of a rule is at or after `from` (a native literal search), or -1. */
export type NextTrigger = (text: string, from: number, meter: Meter) => number;

/** Tries a rule at `trigger`; returns where the search resumes, or -1 for "after the trigger". `floor` is the regex's lastIndex. */
export type TriggerRule = (text: string, trigger: number, floor: number, out: Rewriter, meter: Meter) => number;

/** A rule as one left-to-right pass: from trigger to trigger, never back before `floor`. */
export function scanTriggers(next: NextTrigger, at: TriggerRule): (text: string, meter: Meter) => string {
  return (text, meter) => {
    const out = new Rewriter(text);
    let floor = 0;
    for (let from = 0; ;) {
      const trigger = next(text, from, meter);
      if (trigger < 0) break;
      const resume = at(text, trigger, floor, out, meter);
      if (resume > trigger) floor = resume;
      from = resume > trigger ? resume : trigger + 1;
    }
    return out.result();
  };
}

export const nextLiteral =
  (literal: string): NextTrigger =>
  (text, from, meter) =>
    find(text, literal, from, meter);

export const nextMatch =
  (pattern: RegExp): NextTrigger =>
  (text, from, meter) =>
    findPattern(text, pattern, from, meter);
