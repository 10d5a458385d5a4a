import { performance } from 'node:perf_hooks';
import { readProcTable } from '../../proc/proc-table.js';
import type { TreeHandle } from './tree-kill.js';

/** How often the tree is recorded while the command runs... */
const TRACK_INTERVAL_MS = 100;
/** ...but never more than ~1/10 of a core: CPU starvation is what the merge gate exists to avoid. */
const TRACK_COST_FACTOR = 10;

/**
 * Records the tree while the command runs, so a member that later leaves every link (the run
 * cgroup, its session, its parent) is still known by (pid, starttime) at the kill. With a
 * cgroup this reads the cgroup's list and the new members' stat files only; without one it
 * reads the whole process table. Returns the stop function.
 */
export function trackWhileRunning(handle: TreeHandle): () => void {
  const tracker = handle.tracker;
  if (!tracker || handle.strategy === 'single') return () => undefined;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const track = (): void => {
    const started = performance.now();
    if (handle.cgroup) tracker.aliveByReads(handle.cgroup.pids(), handle.procRoot);
    else tracker.observe(readProcTable(handle.procRoot));
    const costMs = performance.now() - started;
    if (stopped) return;
    timer = setTimeout(track, Math.max(TRACK_INTERVAL_MS, costMs * TRACK_COST_FACTOR));
    timer.unref();
  };
  track();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
