import { performance } from 'node:perf_hooks';
import { enterAs, type RunAs } from './account.js';
import { defaultKillEnvironment, launch, watchLeader, type Chosen, type KillEnvironment, type LeaderWatch } from './launch.js';
import { checkCwd, checkExecutable, trySignal, within, type Spawned, type StartError } from './spawn.js';
import { killTree, type KillReceipt, type KillReport } from './tree-kill.js';
import { liveMembers, newTracker, trackWhileRunning, type KillStrategy, type TreeHandle } from './tree-tracker.js';
import type { ProcIdentity } from '../proc/parse-stat.js';
import { readBootId, readStat } from '../proc/read-proc.js';

/** What one run of a command produced (docs/api.md); field names are the wire names, shared with `run --json`. */
export interface ProcResult {
  returncode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timed_out: boolean;
  duration_s: number;
}

/** Pipes close when the last holder dies; a holder outside the tree must not hang the run. */
const PIPE_DRAIN_MS = 2_000;
const HELPER_REAP_MS = 1_000;

/** To the microsecond: no float noise in the API. */
const elapsedS = (startedAtMs: number): number => Math.round((performance.now() - startedAtMs) * 1000) / 1_000_000;

export interface RunOptions {
  /** argv, never a shell string. */
  command: string[];
  cwd?: string;
  /** Without runAs: the command's whole set of variables (default ours). With runAs: what the request adds to accountEnv. */
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  graceMs: number;
  /** false = WATCHDOG_TREE_KILL_ENABLED=false: signal the leader only. */
  treeKill?: boolean;
  /** Start from this strategy instead of the best available (tests, benchmark); still degrades. */
  strategy?: Exclude<KillStrategy, 'single'>;
  /** Aborting kills the tree exactly like a timeout (server shutdown, CLI SIGINT). */
  abortSignal?: AbortSignal;
  /** The CLI: the caller's own stdin, stdout and stderr, as under timeout(1); nothing is captured. */
  inheritStdio?: boolean;
  killEnv?: KillEnvironment;
  /** The account the command runs as (enterAs); default: ours, with our variables. */
  runAs?: RunAs;
  /** Called with the run's root (every process of the run descends from it) and what a restart needs to find the run again. */
  onRoot?: (root: ProcIdentity, where: { cgroup: string | null; boot: string | null }) => void;
}

/**
 * `degradedReason`: why a better strategy was not used or changed; `spawnError`: ENOENT, EACCES, ... when the command
 * could not start; `killedByGate`: a SIGKILL is ours (timeout, abort, the helper's death); `oomKilled`: the run cgroup's
 * memory.events counted one; `leftoverCount`: members still running after a normal exit (then killed).
 */
export interface RunReport {
  result: ProcResult;
  strategy: KillStrategy;
  degradedReason: string | null;
  aborted: boolean;
  spawnError: string | null;
  killedByGate: boolean;
  oomKilled: boolean;
  kill: KillReport | null;
  leftoverCount: number;
  receipt: KillReceipt;
}

const noReceipt = (strategy: KillStrategy): KillReceipt => ({ strategy, processes: [], confirmedDead: 0, survivors: [] });

function failedStart(error: StartError, startedAt: number): RunReport {
  const stderr = `orch-watchdog: ${error.message}\n`;
  return {
    result: { returncode: null, signal: null, stdout: '', stderr, timed_out: false, duration_s: elapsedS(startedAt) },
    strategy: 'single',
    degradedReason: null,
    aborted: false,
    spawnError: error.code,
    killedByGate: false,
    oomKilled: false,
    kill: null,
    leftoverCount: 0,
    receipt: noReceipt('single'),
  };
}

/** Runs `command` as a new session leader; on timeout, abort or leftovers the whole tree dies and is reaped first. Never throws. */
export async function runProcess(opts: RunOptions): Promise<RunReport> {
  const startedAt = performance.now();
  try {
    const killEnv = opts.killEnv ?? defaultKillEnvironment();
    const prepared = prepare(opts, killEnv);
    if ('code' in prepared) return failedStart(prepared, startedAt);
    const launched = await launch({
      command: opts.command,
      enterPrefix: prepared.enterPrefix,
      start: opts.treeKill === false ? 'single' : (opts.strategy ?? 'cgroup'),
      killEnv,
      onRoot: (pid, cgroup) => {
        // Only while the root is still our child (not already exited, its pid reused).
        const stat = opts.onRoot ? readStat(pid) : null;
        if (stat?.ppid === process.pid) opts.onRoot?.({ pid, startTicks: stat.startTicks }, { cgroup, boot: readBootId() });
      },
      spawn: { cwd: prepared.cwd, env: prepared.env, inheritStdio: opts.inheritStdio ?? false },
    });
    if ('code' in launched) return failedStart(launched, startedAt);
    return await supervise(opts, launched.chosen, launched.spawned, startedAt);
  } catch (err) {
    return failedStart({ code: 'EINTERNAL', message: `runner error: ${(err as Error).stack ?? String(err)}` }, startedAt);
  }
}

/** Everything that can be refused before a process exists; as another account, the chain is spawned in `/` and enters cwd itself. */
function prepare(opts: RunOptions, killEnv: KillEnvironment): { cwd: string; env: NodeJS.ProcessEnv; enterPrefix: string[] } | StartError {
  const cwd = opts.cwd ?? process.cwd();
  const aborted = { code: 'EABORTED', message: 'aborted before start' };
  if (opts.runAs) {
    // cwd and the command are looked up by the account itself (ENTER_SH), never by us as root.
    if (opts.abortSignal?.aborted) return aborted;
    const extraEnv = Object.entries(opts.env ?? {}).filter((e): e is [string, string] => e[1] !== undefined);
    const entry = enterAs(opts.runAs, cwd, Object.fromEntries(extraEnv), killEnv.subreaper());
    return 'code' in entry ? entry : { cwd: '/', env: entry.env, enterPrefix: entry.prefix };
  }
  const env = opts.env ?? process.env;
  const refusal = checkCwd(cwd) ?? checkExecutable(opts.command, cwd, env);
  if (refusal) return refusal;
  return opts.abortSignal?.aborted ? aborted : { cwd, env, enterPrefix: [] };
}

/** Budget, abort, leader status, and the kill: the run from spawn to the last member confirmed gone. */
async function supervise(opts: RunOptions, chosen: Chosen, spawned: Spawned, startedAt: number): Promise<RunReport> {
  const watch = watchLeader(spawned.child, chosen.helper ? spawned.controls[0]! : null);
  const rootIsHelper = chosen.helper !== null;
  const handle: TreeHandle = {
    strategy: chosen.strategy,
    rootPid: spawned.pid,
    rootIsHelper,
    isRootReaped: () => watch.isRootReaped(),
    waitRootExit: (ms) => within(watch.rootExited, ms),
    cgroup: chosen.cgroup,
    tracker: chosen.strategy === 'single' ? null : newTracker(spawned.pid, rootIsHelper),
  };
  const stopTracking = trackWhileRunning(handle);
  let killing: Promise<KillReport> | null = null;
  let timedOut = false;
  let aborted = false;
  const startKill = (): void => {
    killing ??= killTree(handle, opts.graceMs);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    startKill();
  }, opts.timeoutMs);
  const onAbort = (): void => {
    aborted = true;
    startKill();
  };
  opts.abortSignal?.addEventListener('abort', onAbort, { once: true });
  // Aborted while the strategy was being chosen or the process spawned: the listener came too late.
  if (opts.abortSignal?.aborted) onAbort();

  const end = await watch.end;
  clearTimeout(timer);
  opts.abortSignal?.removeEventListener('abort', onAbort);
  let killedByGate = killing !== null;
  const status = end.kind === 'exited' ? end.status : { code: null, signal: null };
  if (end.kind === 'helper-died') {
    // The command killed its own helper: its orphans now belong to init. Kill the tree at once, by the cgroup or the sweep.
    if (handle.strategy === 'subreaper') handle.strategy = 'proc-sweep';
    chosen.reasons.push(
      `subreaper: the helper died (${end.helperStatus.signal ?? `exit ${end.helperStatus.code}`}) before the command; the tree was killed by ${handle.strategy}`,
    );
    if (end.commandPid !== null) handle.tracker?.seedSession(end.commandPid);
    killedByGate = true;
    startKill();
  }
  const leftoverCount = killing ? 0 : liveMembers(handle).length;
  // A normal exit that leaves children behind is how the next run starved: kill them too.
  if (leftoverCount > 0) startKill();
  const kill = killing ? await (killing as Promise<KillReport>) : null;
  stopTracking();
  await reap(handle, spawned, watch);
  const oomKilled = (chosen.cgroup?.oomKills() ?? 0) > 0;
  await chosen.cgroup?.remove();
  return {
    result: {
      returncode: status.code,
      signal: status.signal,
      stdout: spawned.stdout.text(),
      stderr: spawned.stderr.text(),
      timed_out: timedOut,
      duration_s: elapsedS(startedAt),
    },
    strategy: handle.strategy,
    degradedReason: chosen.reasons.join('; ') || null,
    aborted,
    spawnError: null,
    killedByGate,
    oomKilled,
    kill,
    leftoverCount,
    receipt: kill?.receipt ?? noReceipt(handle.strategy),
  };
}

/** The root reaped by Node (a stuck helper SIGKILLed), and the pipes drained or cut. */
async function reap(handle: TreeHandle, spawned: Spawned, watch: LeaderWatch): Promise<void> {
  if (handle.rootIsHelper && !(await handle.waitRootExit(HELPER_REAP_MS)) && !watch.isRootReaped()) trySignal(spawned.pid, 'SIGKILL');
  await watch.rootExited;
  for (const control of spawned.controls) control.destroy();
  if (!(await within(spawned.pipesClosed, PIPE_DRAIN_MS))) {
    spawned.child.stdout?.destroy();
    spawned.child.stderr?.destroy();
  }
}
