import { describe, expect, it } from 'vitest';
import { LineageTree, ProcTree, type LinkedProcess } from '../../src/proc/proc-table.js';

/** A deterministic pseudo-random source, so a failure names a reproducible seed. */
function lcg(seed: number): () => number {
  let x = seed;
  return () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

/** A process table like a host's: parents listed before or after their children, some parents not listed, a self-parented root, now and then a cycle. */
function randomLineage(seed: number, n: number): number[] {
  const rnd = lcg(seed);
  const pids = Array.from({ length: n }, (_, i) => 2 + i * 7 + Math.floor(rnd() * 5));
  const out: number[] = [];
  for (const [i, pid] of pids.entries()) {
    const r = rnd();
    const ppid = i === 0 ? pid : r < 0.05 ? 999_983 : r < 0.1 ? pids[Math.floor(rnd() * n)]! : pids[Math.floor(rnd() * i)]!;
    out.push(pid, ppid, Math.floor(rnd() * 1e6));
  }
  // shuffled, as readdir lists them
  const triples = Array.from({ length: n }, (_, i) => out.slice(3 * i, 3 * i + 3));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [triples[i], triples[j]] = [triples[j]!, triples[i]!];
  }
  return triples.flat();
}

function procTreeOf(lineage: number[]): ProcTree<LinkedProcess> {
  const table = new Map<number, LinkedProcess>();
  for (let i = 0; i + 2 < lineage.length; i += 3)
    table.set(lineage[i]!, { pid: lineage[i]!, ppid: lineage[i + 1]!, startTicks: lineage[i + 2]! });
  return new ProcTree(table);
}

describe('LineageTree', () => {
  it('answers as ProcTree does over the same table, order included, across resets of growing and shrinking size', () => {
    const tree = new LineageTree();
    for (const [seed, n] of [
      [1, 50],
      [2, 3000],
      [3, 7],
      [4, 0],
      [5, 1200],
    ] as const) {
      const lineage = randomLineage(seed, n);
      tree.reset(Float64Array.from(lineage));
      const reference = procTreeOf(lineage);
      const asked = [...reference.table.keys(), 999_983, 1, -1];
      for (const pid of asked) {
        expect(tree.startOf(pid), `seed ${seed} pid ${pid}`).toBe(reference.table.get(pid)?.startTicks);
        expect(tree.children(pid), `seed ${seed} pid ${pid}`).toEqual(reference.children(pid));
        expect(tree.descendants(pid), `seed ${seed} pid ${pid}`).toEqual(reference.descendants(pid));
        expect(tree.ancestors(pid), `seed ${seed} pid ${pid}`).toEqual(reference.ancestors(pid));
      }
    }
  });

  it('forgets the previous lineage at a reset: a pid gone since is unknown, a reused pid has its new parent', () => {
    const tree = new LineageTree();
    tree.reset([10, 1, 100, 11, 10, 110, 12, 11, 120]);
    expect(tree.descendants(10).map((p) => p.pid)).toEqual([11, 12]);
    tree.reset([10, 1, 100, 12, 1, 999]);
    expect(tree.startOf(11)).toBeUndefined();
    expect(tree.startOf(12)).toBe(999);
    expect(tree.descendants(10)).toEqual([]);
    expect(tree.ancestors(12)).toEqual([]);
  });
});
