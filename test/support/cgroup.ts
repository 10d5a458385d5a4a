import { mkdtempSync, readdirSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CgroupManager } from '../../src/runner/cgroup.js';

export function rmdirQuiet(path: string): void {
  try {
    rmdirSync(path);
  } catch {
    // busy or gone: the next stale cleanup removes it
  }
}

/**
 * A private cgroup beside this process's run parent: a CgroupManager given it as its base (its
 * runs, its stale-run cleanup) never meets another test file's watchdog, which scans the shared one.
 */
export async function privateCgroupBase(): Promise<{ base: string; remove: () => void }> {
  const support = await new CgroupManager().detect();
  if (!support.ok) throw new Error(`cgroup v2 is needed here: ${support.reason}`);
  const base = mkdtempSync(join(dirname(support.parent), 'owd-test-'));
  const removeTree = (dir: string): void => {
    for (const d of readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) removeTree(join(dir, d.name));
    rmdirQuiet(dir);
  };
  return { base, remove: () => removeTree(base) };
}
