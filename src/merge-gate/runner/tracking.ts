import { performance } from 'node:perf_hooks';
import { readProcTable } from '../../proc/proc-table.js';
import { walkChildren } from './child-links.js';
import type { TreeHandle } from './tree-kill.js';

/** How often the tree is recorded while the command runs (children links and the cgroup list: cheap)... */
const TRACK_INTERVAL_MS = 100;
/** ...how often the whole table is read without a cgroup (groups and sessions), at most... */
const FULL_SCAN_INTERVAL_MS = 1_000;
/** ...and never more than ~1/10 of a core: CPU starvation is what the merge gate exists to avoid. */
const TRACK_COST_FACTOR = 10;

/**
 * Records the tree while the command runs, so a member that later leaves every link (the run
 * cgroup, its session, its parent) is still known by (pid, starttime) at the kill: the cgroup's
 * list and the child links below the root every TRACK_INTERVAL_MS, and without a cgroup the
 * whole process table now and then (groups and sessions). Returns the stop function.
 */
export function trackWhileRunning(handle: TreeHandle): () => void {
  const tracker = handle.tracker;
  if (!tracker || handle.strategy === 'single') return () => undefined;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let nextFullScan = 0;
  const track = (): void => {
    const started = performance.now();
    const linked = walkChildren([handle.rootPid], handle.procRoot);
    tracker.aliveByReads([...(handle.cgroup?.pids() ?? []), ...linked], handle.procRoot);
    const costMs = performance.now() - started;
    if (!handle.cgroup && started >= nextFullScan) {
      const scanStart = performance.now();
      tracker.observe(readProcTable(handle.procRoot));
      nextFullScan = performance.now() + Math.max(FULL_SCAN_INTERVAL_MS, (performance.now() - scanStart) * TRACK_COST_FACTOR);
    }
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
