import { setFlagsFromString } from 'node:v8';

let linearEngine = false;

// A regex compiled with the `l` flag never backtracks: `(a+)+$` on "aaaa…!" costs linear time instead of
// freezing the event loop (docs/behaviour.md). The flag is process-wide, later worker threads included.
export function enableLinearEngine(): void {
  if (linearEngine) return;
  setFlagsFromString('--enable-experimental-regexp-engine');
  linearEngine = true;
}

/** A counted repetition above this is refused by the linear engine (V8's replication limit). */
const MAX_LINEAR_COUNT = 16;

export interface RejectedPattern {
  source: string;
  reason: string;
}

const v8Reason = (err: unknown): string => (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');

/** Why a source cannot run linear-time, or null when it can (the pattern then compiles with `l`). */
export function whyNotLinear(source: string, flags = ''): string | null {
  enableLinearEngine();
  try {
    new RegExp(source, `${flags}l`);
    return null;
  } catch (err) {
    try {
      new RegExp(source, flags);
    } catch (syntax) {
      return `not a valid regular expression: ${v8Reason(syntax)}`;
    }
    const unsupportedFlag = [...flags].find((f) => f === 'i' || f === 'u' || f === 'v');
    if (unsupportedFlag !== undefined) return `the "${unsupportedFlag}" flag is not supported by the linear-time engine`;
    const construct = findNonLinearConstruct(source);
    return construct === null ? `cannot run in linear time (${v8Reason(err)})` : `${construct} cannot run in linear time`;
  }
}

/** Asked of the engine (Node 24's runs lookbehind, Node 20's refused it), so a reason never names a construct it accepts. */
function engineRunsLookbehind(): boolean {
  try {
    return new RegExp('(?<=a)b', 'l') instanceof RegExp;
  } catch {
    return false;
  }
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
