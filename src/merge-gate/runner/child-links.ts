import { readdirSync, readFileSync } from 'node:fs';

const MAX_WALK = 100_000;

/** The tree below `roots` by the kernel's own child lists (/proc/<pid>/task/<tid>/children): one read per member. */
export function walkChildren(roots: Iterable<number>, procRoot: string): number[] {
  const found: number[] = [];
  const seen = new Set<number>();
  const stack = [...roots];
  while (stack.length > 0 && found.length < MAX_WALK) {
    const pid = stack.pop()!;
    let tasks: string[];
    try {
      tasks = readdirSync(`${procRoot}/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      let text: string;
      try {
        text = readFileSync(`${procRoot}/${pid}/task/${tid}/children`, 'latin1');
      } catch {
        continue;
      }
      for (const child of text.split(' ')) {
        const n = Number(child);
        if (!Number.isInteger(n) || n <= 1 || seen.has(n)) continue;
        seen.add(n);
        found.push(n);
        stack.push(n);
      }
    }
  }
  return found;
}
