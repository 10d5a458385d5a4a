import { performance } from 'node:perf_hooks';
import { enterAs, type RunAs } from './account.js';
import { defaultKillEnvironment, launch, watchLeader, type Chosen, type KillEnvironment, type LeaderWatch } from './launch.js';
import { checkCwd, checkExecutable, type Spawned, type StartError } from './spawn.js';
import { killTree, type KillReceipt, type KillReport } from './tree-kill.js';
import { liveMembers, newTracker, trackWhileRunning, type KillStrategy, type TreeHandle } from './tree-tracker.js';
import type { ProcIdentity } from '../proc/identity.js';
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

/** Seconds since `startedAtMs` (performance clock), to the microsecond: no float noise in the API. */
function elapsedS(startedAtMs: number): number {
  return Math.round((performance.now() - startedAtMs) * 1000) / 1_000_000;
}

const timeout = (ms: number): Promise<false> => new Promise((r) => setTimeout(() => r(false), ms).unref());

export interface RunOptions {
  /** argv, never a shell string. */
  command: string[];
  cwd?: string;
  /** Without runAs: the command's whole environment (default ours). With runAs: what the request adds to the account's own (accountEnv). */
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  graceMs: number;
  /** false = WATCHDOG_TREE_KILL_ENABLED=false: signal the leader only. */
  treeKill?: boolean;
  /** Start from this strategy instead of the best available (tests, benchmark); still degrades. */
  strategy?: Exclude<KillStrategy, 'single'>;
  /** Aborting kills the tree exactly like a timeout (server shutdown, CLI SIGINT). */
  abortSignal?: AbortSignal;
  /**
   * The CLI: the command gets the caller's own stdin, stdout and stderr, as under timeout(1):
   * a tty stays a tty, a closed pipe is the command's own SIGPIPE. Nothing is captured.
   */
  inheritStdio?: boolean;
  killEnv?: KillEnvironment;
  /**
   * The account the command runs as (its own groups and environment, see enterAs): it enters
   * `cwd` itself, and no fd above 2 reaches it. Default: ours, in our environment, as timeout(1).
   */
  runAs?: RunAs;
  /**
   * Called once the run's root process exists (before the command runs, under a cgroup) with
   * its (pid, starttime): every process of the run descends from it while the run lasts. `where`
   * is what a restart after a crash needs to find the run again (the gate saves it).
   */
  onRoot?: (root: ProcIdentity, where: { cgroup: string | null; boot: string | null }) => void;
}

export interface RunReport {
  result: ProcResult;
  strategy: KillStrategy;
  /** Why a better strategy was not used, or why the strategy changed during the run. */
  degradedReason: string | null;
  aborted: boolean;
  /** Set when the command could not start: ENOENT, EACCES, EINVAL, ... (null once it ran). */
  spawnError: string | null;
  /** The runner itself signalled the command (timeout, abort, the helper's death): its SIGKILL is ours. */
  killedByGate: boolean;
  /** The run cgroup's memory.events counted an oom_kill (only where the memory controller is on). */
  oomKilled: boolean;
  /** The kill, when one happened (timeout, abort, or leftovers after a normal exit). */
  kill: KillReport | null;
  /** Tree members still running after the leader exited normally (they were then killed). */
  leftoverCount: number;
  /** Every process signalled and how many are confirmed gone (empty when nothing was left to kill). */
  receipt: KillReceipt;
}

function failedStart(error: StartError, startedAt: number): RunReport {
  const result = { returncode: null, signal: null, stdout: '', stderr: `orch-watchdog: ${error.message}\n`, timed_out: false };
  return {
    result: { ...result, duration_s: elapsedS(startedAt) },
    strategy: 'single',
    degradedReason: null,
    aborted: false,
    spawnError: error.code,
    killedByGate: false,
    oomKilled: false,
    kill: null,
    leftoverCount: 0,
    receipt: { strategy: 'single', processes: [], confirmedDead: 0, survivors: [] },
  };
}

/**
 * Runs `command` as the leader of a new session and process group, and makes sure that when
 * it times out, is aborted, or exits leaving children behind, the whole tree dies and is
 * reaped before this returns. Never throws: a spawn failure is `returncode: null` with the
 * reason in stderr.
 */
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
      onRoot: opts.onRoot && rootReporter(opts.onRoot),
      spawn: { cwd: prepared.cwd, env: prepared.env, inheritStdio: opts.inheritStdio ?? false },
    });
    if ('code' in launched) return failedStart(launched, startedAt);
    return await supervise(opts, launched.chosen, launched.spawned, startedAt);
  } catch (err) {
    return failedStart({ code: 'EINTERNAL', message: `runner error: ${(err as Error).stack ?? String(err)}` }, startedAt);
  }
}

interface Prepared {
  /** Where the chain is spawned: `/` when it enters cwd as another account itself. */
  cwd: string;
  env: NodeJS.ProcessEnv;
  enterPrefix: string[];
}

/** Everything that can be refused before a process exists. */
function prepare(opts: RunOptions, killEnv: KillEnvironment): Prepared | StartError {
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

/** The root's starttime, read once it exists; only while it is still our child (not already exited, its pid reused). */
function rootReporter(onRoot: NonNullable<RunOptions['onRoot']>): (pid: number, cgroup: string | null) => void {
  return (pid, cgroup) => {
    const stat = readStat(pid);
    if (stat?.ppid === process.pid) onRoot({ pid, startTicks: stat.startTicks }, { cgroup, boot: readBootId() });
  };
}

function treeHandle(chosen: Chosen, spawned: Spawned, watch: LeaderWatch): TreeHandle {
  const rootIsHelper = chosen.helper !== null;
  return {
    strategy: chosen.strategy,
    rootPid: spawned.pid,
    rootIsHelper,
    isRootReaped: () => watch.isRootReaped(),
    waitRootExit: (ms) => Promise.race([watch.rootExited.then(() => true), timeout(ms)]),
    cgroup: chosen.cgroup,
    tracker: chosen.strategy === 'single' ? null : newTracker(spawned.pid, rootIsHelper),
  };
}

/** Budget, abort, leader status, and the kill: the run from spawn to the last member confirmed gone. */
async function supervise(opts: RunOptions, chosen: Chosen, spawned: Spawned, startedAt: number): Promise<RunReport> {
  const watch = watchLeader(spawned.child, chosen.helper ? spawned.controls[0]! : null);
  const handle = treeHandle(chosen, spawned, watch);
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
    receipt: kill?.receipt ?? { strategy: handle.strategy, processes: [], confirmedDead: 0, survivors: [] },
  };
}

/** The root reaped by Node (a stuck helper SIGKILLed), and the pipes drained or cut. */
async function reap(handle: TreeHandle, spawned: Spawned, watch: LeaderWatch): Promise<void> {
  if (handle.rootIsHelper && !(await handle.waitRootExit(HELPER_REAP_MS)) && !watch.isRootReaped()) {
    try {
      process.kill(spawned.pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  await watch.rootExited;
  for (const control of spawned.controls) control.destroy();
  if (!(await Promise.race([spawned.pipesClosed.then(() => true), timeout(PIPE_DRAIN_MS)]))) {
    spawned.child.stdout?.destroy();
    spawned.child.stderr?.destroy();
  }
}
