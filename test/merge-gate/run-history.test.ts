import { describe, expect, it } from 'vitest';
import { RunHistory } from '../../src/merge-gate/gate-state.js';
import type { RetestRun } from '../../src/merge-gate/types.js';

const run = (id: string, previousId?: string): RetestRun => ({ id, status: 'done', ...(previousId && { previousId }) }) as RetestRun;

describe('RunHistory.chain: the attempts that led to a run', () => {
  it('walks previousId back, oldest first, as far as history holds them', () => {
    const history = new RunHistory();
    history.add([run('a'), run('b', 'a'), run('c', 'b')]);
    expect(history.chain(run('d', 'c')).map((r) => r.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(history.chain(run('e', 'gone')).map((r) => r.id)).toEqual(['e']);
  });

  // A crafted or damaged state file: previousId that loops froze the event loop when such a chain was exhausted.
  it('ends at a run it has already taken when previousId loops', () => {
    const history = new RunHistory();
    history.add([run('a', 'b'), run('b', 'a'), run('self', 'self')]);
    expect(history.chain(run('c', 'a')).map((r) => r.id)).toEqual(['b', 'a', 'c']);
    expect(history.chain(history.runs.get('self')!).map((r) => r.id)).toEqual(['self']);
  });
});
