import type { RetestRun } from './types.js';

const DEFAULT_HISTORY_MAX = 1000;

/** Every run by id, for GET /merge-gate/retests/:id; bounded: the oldest finished runs go first. */
export class RunHistory {
  private readonly runs = new Map<string, RetestRun>();

  constructor(private readonly max = DEFAULT_HISTORY_MAX) {}

  add(run: RetestRun): void {
    this.runs.set(run.id, run);
    this.trim();
  }

  /** The live record (the gate updates it in place). */
  live(id: string): RetestRun | undefined {
    return this.runs.get(id);
  }

  /** A copy for readers. */
  get(id: string): RetestRun | undefined {
    const run = this.runs.get(id);
    return run ? structuredClone(run) : undefined;
  }

  /** Every run, oldest first (the state file's copy). */
  list(): RetestRun[] {
    return [...this.runs.values()];
  }

  /** Runs from the state file, oldest first, added before anything new. */
  restore(runs: readonly RetestRun[]): void {
    for (const run of runs) this.runs.set(run.id, run);
    this.trim();
  }

  /** The attempts that led to `run`, oldest first, as far as history still holds them. */
  chain(run: RetestRun): RetestRun[] {
    const chain = [run];
    for (let prev = run.previousId; prev;) {
      const before = this.runs.get(prev);
      if (!before) break;
      chain.unshift(before);
      prev = before.previousId;
    }
    return chain;
  }

  private trim(): void {
    if (this.runs.size <= this.max) return;
    for (const [id, run] of this.runs) {
      if (this.runs.size <= this.max) break;
      if (run.status === 'done') this.runs.delete(id);
    }
  }
}
