import { setFlagsFromString } from 'node:v8';

let linearEngine = false;

/**
 * Turns on V8's automaton engine for the whole process, worker threads started later included: a
 * regex compiled with the `l` flag never backtracks, so `(a+)+$` on "aaaa…!" costs time linear
 * in the text instead of freezing the event loop (docs/behaviour.md). Idempotent.
 */
export function enableLinearEngine(): void {
  if (linearEngine) return;
  setFlagsFromString('--enable-experimental-regexp-engine');
  linearEngine = true;
}

/** A counted repetition above this is refused by the linear engine (V8's replication limit). */
export const MAX_LINEAR_COUNT = 16;

export class UnsafePatternError extends Error {
  constructor(
    readonly source: string,
    readonly reason: string,
  ) {
    super(`/${source}/: ${reason}`);
    this.name = 'UnsafePatternError';
  }
}

export interface RejectedPattern {
  source: string;
  reason: string;
}

/** Why a source cannot run linear-time, or null when it can (the pattern then compiles with `l`). */
export function whyNotLinear(source: string, flags = ''): string | null {
  enableLinearEngine();
  try {
    new RegExp(source, `${flags}l`);
    return null;
  } catch (err) {
    return explain(source, flags, err);
  }
}

/** Compile a user or default pattern for the linear-time engine; throws UnsafePatternError with the reason. */
export function compileLinear(source: string, flags = ''): RegExp {
  enableLinearEngine();
  try {
    return new RegExp(source, `${flags}l`);
  } catch (err) {
    throw new UnsafePatternError(source, explain(source, flags, err));
  }
}

/** Compile every source that can run linear-time; the others are returned with their reason, never thrown. */
export function compileLinearList(sources: readonly string[], flags = ''): { regexes: RegExp[]; rejected: RejectedPattern[] } {
  const regexes: RegExp[] = [];
  const rejected: RejectedPattern[] = [];
  for (const source of sources) {
    try {
      regexes.push(compileLinear(source, flags));
    } catch (err) {
      rejected.push({ source, reason: (err as UnsafePatternError).reason });
    }
  }
  return { regexes, rejected };
}

function explain(source: string, flags: string, err: unknown): string {
  try {
    new RegExp(source, flags);
  } catch (syntax) {
    // Not a regular expression at all: V8's own message names the problem ("Unterminated group").
    return `not a valid regular expression: ${(syntax as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')}`;
  }
  const unsupportedFlag = [...flags].find((f) => f === 'i' || f === 'u' || f === 'v');
  if (unsupportedFlag !== undefined) return `the "${unsupportedFlag}" flag is not supported by the linear-time engine`;
  const construct = findNonLinearConstruct(source);
  if (construct !== null) return `${construct} cannot run in linear time`;
  return `cannot run in linear time (${(err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')})`;
}

/**
 * Whether this V8's automaton engine runs lookbehind: Node 24's does, Node 20's refused it. Asked
 * of the engine, so a reason never names a construct it accepts.
 */
let lookbehindLinear: boolean | undefined;
function engineRunsLookbehind(): boolean {
  if (lookbehindLinear === undefined) {
    try {
      new RegExp('(?<=a)b', 'l');
      lookbehindLinear = true;
    } catch {
      lookbehindLinear = false;
    }
  }
  return lookbehindLinear;
}

/** Names the first construct the automaton engine cannot express; skips escapes and character classes. */
function findNonLinearConstruct(source: string): string | null {
  let inClass = false;
  for (let i = 0; i < source.length; i += 1) {
    const c = source[i];
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(next)) return `a backreference (\\${next})`;
      if (!inClass && next === 'k' && source[i + 2] === '<') return 'a named backreference (\\k<…>)';
      i += 1;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
    } else if (c === '(' && source[i + 1] === '?') {
      const head = source.slice(i + 2, i + 4);
      if (head.startsWith('=') || head.startsWith('!')) return `a lookahead (?${head[0]}…)`;
      if ((head === '<=' || head === '<!') && !engineRunsLookbehind()) return `a lookbehind (?${head}…)`;
    } else if (c === '{') {
      const m = /^\{(\d+)(?:,(\d*))?\}/.exec(source.slice(i));
      const counts = m === null ? [] : [Number(m[1]), Number(m[2] || 0)];
      if (counts.some((n) => n > MAX_LINEAR_COUNT)) return `a counted repetition above {${MAX_LINEAR_COUNT}} (${m?.[0]})`;
    }
  }
  return null;
}
