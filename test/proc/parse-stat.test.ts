import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseStat } from '../../src/proc/parse-stat.js';

const tail = '0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 1 0 98765 10000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0';

describe('parseStat reads the kernel layout', () => {
  it('reads pid, comm, state, ppid, pgrp, session, utime, stime, starttime', () => {
    expect(parseStat(`4242 (pytest) S 1 4242 4242 ${tail}\n`)).toEqual({
      pid: 4242,
      comm: 'pytest',
      state: 'S',
      ppid: 1,
      pgrp: 4242,
      session: 4242,
      utimeTicks: 1234,
      stimeTicks: 567,
      startTicks: 98765,
    });
  });

  // A process may call itself `a b ) ( c`; splitting on the first `)` would shift every field.
  it('takes comm between the first ( and the last ) so a hostile comm cannot shift fields', () => {
    const stat = parseStat(`77 (a b ) ( c) R 5 6 7 ${tail}`);
    expect(stat?.comm).toBe('a b ) ( c');
    expect(stat?.ppid).toBe(5);
    expect(stat?.startTicks).toBe(98765);
  });

  it('reads an empty comm and a comm of only parentheses', () => {
    expect(parseStat(`8 () S 1 8 8 ${tail}`)?.comm).toBe('');
    expect(parseStat(`9 ()) S 1 9 9 ${tail}`)?.comm).toBe(')');
  });

  it('parses this very process and agrees with what Node knows about it', () => {
    const stat = parseStat(readFileSync(`/proc/${process.pid}/stat`, 'utf8'));
    expect(stat?.pid).toBe(process.pid);
    expect(stat?.ppid).toBe(process.ppid);
    expect(stat?.startTicks).toBeGreaterThan(0);
  });
});

describe('parseStat rejects malformed text instead of inventing numbers', () => {
  it.each([
    ['empty', ''],
    ['no parentheses', `12 pytest S 1 12 12 ${tail}`],
    ['truncated before starttime', '12 (pytest) S 1 12 12 0 -1 4194560 100 0 0 0 1234 567'],
    ['non-numeric pid', `x (pytest) S 1 12 12 ${tail}`],
    ['non-numeric ppid', `12 (pytest) S one 12 12 ${tail}`],
    ['missing state', '12 (pytest)'],
    ['close before open', `12 )pytest( S 1 12 12 ${tail}`],
  ])('%s', (_name, text) => {
    expect(parseStat(text)).toBeNull();
  });
});
