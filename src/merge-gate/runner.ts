import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CgroupManager, cgroupWrapperArgv, type RunCgroup } from './cgroup.js';
import { DEFAULT_OUTPUT_CAP_BYTES, TailBuffer } from './output-cap.js';
import { findOnPath, findSubreaperHelper, type SubreaperHelper, type SubreaperKind } from './subreaper.js';
import { killTree, liveMembers, newTracker, type KillReport, type TreeHandle } from './tree-kill.js';
import { readProcTable } from '../proc/proc-table.js';
import type { KillStrategy, ProcResult } from './types.js';

/** Seconds since `startedAtMs` (performance clock), to the microsecond: no float noise in the API. */
function elapsedS(startedAtMs: number): number {
  return Math.round((performance.now() - startedAtMs) * 1000) / 1_000_000;
}

/** How often the proc-sweep strategy records the tree while the command runs... */
const TRACK_INTERVAL_MS = 100;
/** ...but never more than ~1/10 of a core: CPU starvation is what the merge gate exists to avoid. */
const TRACK_COST_FACTOR = 10;
/** Pipes close when the last holder dies; a holder outside the tree must not hang the run. */
const PIPE_DRAIN_MS = 2_000;

export interface RunOptions {
  /** argv, never a shell string. */
  command: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  graceMs: number;
  /** false = WATCHDOG_TREE_KILL_ENABLED=false: signal the leader only. */
  treeKill?: boolean;
  /** Start from this strategy instead of the best available (tests, benchmark); still degrades. */
  strategy?: Exclude<KillStrategy, 'single'>;
  /** Aborting kills the tree exactly like a timeout (server shutdown, CLI SIGINT). */
  abortSignal?: AbortSignal;
  outputCapBytes?: number;
  /**
   * The CLI: the command gets the caller's own stdin, stdout and stderr, as under timeout(1):
   * a tty stays a tty, a closed pipe is the command's own SIGPIPE. Nothing is captured.
   */
  inheritStdio?: boolean;
  /** Which process table to read; tests of the sweep logic never need another. */
  procRoot?: string;
  killEnv?: KillEnvironment;
}

export interface RunReport {
  result: ProcResult;
  strategy: KillStrategy;
  /** With `subreaper`: which helper ran (the compiled C one, or python3). */
  subreaperKind: SubreaperKind | null;
  /** Why a better strategy was not used, when one was skipped. */
  degradedReason: string | null;
  aborted: boolean;
  /** Set when the command could not start: ENOENT (127), EACCES (126), or another code. */
  spawnError: string | null;
  /** The kill, when one happened (timeout, abort, or leftovers after a normal exit). */
  kill: KillReport | null;
  /** Tree members still running after the leader exited normally (they were then killed). */
  leftoverCount: number;
}

/** What this host offers, probed once per process and shared by every run. */
export class KillEnvironment {
  readonly cgroups: CgroupManager;
  private helper: Promise<SubreaperHelper | null> | null = null;

  /** `procRoot` is where /proc/self/{mountinfo,cgroup} are read; `preferSubreaper` picks the helper kind. */
  constructor(
    procRoot = '/proc',
    private readonly preferSubreaper?: SubreaperKind,
  ) {
    this.cgroups = new CgroupManager(procRoot);
  }

  subreaper(): Promise<SubreaperHelper | null> {
    this.helper ??= findSubreaperHelper(this.preferSubreaper).catch(() => null);
    return this.helper;
  }

  async dispose(): Promise<void> {
    await this.cgroups.dispose();
  }
}

let defaultEnv: KillEnvironment | null = null;
export function defaultKillEnvironment(): KillEnvironment {
  defaultEnv ??= new KillEnvironment();
  return defaultEnv;
}

export function signalName(signo: number): string {
  const found = Object.entries(osConstants.signals).find(([, n]) => n === signo);
  return found ? found[0] : `SIG${signo}`;
}

/** Decodes a waitpid(2) status as the subreaper helper reports it. */
export function decodeWaitStatus(status: number): { code: number | null; signal: string | null } {
  const low = status & 0x7f;
  if (low === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: signalName(low) };
}

/** Finds why `command` cannot start before anything is spawned: a clear error, not a shell's 127. */
export function checkExecutable(command: string[], cwd: string, env: NodeJS.ProcessEnv): { code: string; message: string } | null {
  const name = command[0];
  if (name === undefined || name === '') return { code: 'EINVAL', message: 'command is empty' };
  let path: string | null;
  if (name.includes('/')) path = isAbsolute(name) ? name : resolve(cwd, name);
  else path = findOnPath(name, env.PATH ?? '');
  if (!path) return { code: 'ENOENT', message: `${name}: command not found` };
  try {
    if (!statSync(path).isFile()) return { code: 'EACCES', message: `${name}: not a regular file` };
    accessSync(path, fsConstants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EACCES';
    return { code, message: `${name}: ${code === 'ENOENT' ? 'no such file' : 'permission denied'}` };
  }
  return null;
}

interface Chosen {
  strategy: KillStrategy;
  cgroup: RunCgroup | null;
  helper: SubreaperHelper | null;
  degradedReason: string | null;
}

async function chooseStrategy(opts: RunOptions, killEnv: KillEnvironment): Promise<Chosen> {
  if (opts.treeKill === false) return { strategy: 'single', cgroup: null, helper: null, degradedReason: null };
  const start = opts.strategy ?? 'cgroup';
  const reasons: string[] = [];
  if (start === 'cgroup') {
    const support = await killEnv.cgroups.detect();
    const cgroup = support.ok ? await killEnv.cgroups.create() : null;
    if (cgroup) return { strategy: 'cgroup', cgroup, helper: null, degradedReason: null };
    reasons.push(support.ok ? 'cgroup: could not create the run cgroup' : `cgroup: ${support.reason}`);
  }
  if (start === 'cgroup' || start === 'subreaper') {
    const helper = await killEnv.subreaper();
    if (helper) return { strategy: 'subreaper', cgroup: null, helper, degradedReason: reasons.join('; ') || null };
    reasons.push('subreaper: neither a C compiler nor python3 found');
  }
  return { strategy: 'proc-sweep', cgroup: null, helper: null, degradedReason: reasons.join('; ') || null };
}

function failedStart(message: string, code: string, startedAt: number, strategy: KillStrategy): RunReport {
  return {
    result: {
      returncode: null,
      signal: null,
      stdout: '',
      stderr: `orch-watchdog: ${message}\n`,
      timed_out: false,
      duration_s: elapsedS(startedAt),
    },
    strategy,
    subreaperKind: null,
    degradedReason: null,
    aborted: false,
    spawnError: code,
    kill: null,
    leftoverCount: 0,
  };
}

/**
 * Runs `command` as the leader of a new session and process group, and makes sure that when
 * it times out, is aborted, or exits leaving children behind, the whole tree dies and is
 * reaped. Never throws: a spawn failure is `returncode: null` with the reason in stderr.
 */
export async function runProcess(opts: RunOptions): Promise<RunReport> {
  const startedAt = performance.now();
  try {
    return await runUnguarded(opts, startedAt);
  } catch (err) {
    return failedStart(`runner error: ${(err as Error).stack ?? String(err)}`, 'EINTERNAL', startedAt, 'single');
  }
}

async function runUnguarded(opts: RunOptions, startedAt: number): Promise<RunReport> {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const procRoot = opts.procRoot ?? '/proc';
  try {
    if (!statSync(cwd).isDirectory()) return failedStart(`cwd ${cwd} is not a directory`, 'ENOTDIR', startedAt, 'single');
  } catch {
    return failedStart(`cwd ${cwd} does not exist`, 'ENOENT', startedAt, 'single');
  }
  const notRunnable = checkExecutable(opts.command, cwd, env);
  if (notRunnable) return failedStart(notRunnable.message, notRunnable.code, startedAt, 'single');
  if (opts.abortSignal?.aborted) return failedStart('aborted before start', 'EABORTED', startedAt, 'single');

  const killEnv = opts.killEnv ?? defaultKillEnvironment();
  const chosen = await chooseStrategy(opts, killEnv);
  const argv =
    chosen.strategy === 'cgroup' && chosen.cgroup
      ? cgroupWrapperArgv(chosen.cgroup.procsFile, opts.command)
      : chosen.helper
        ? [...chosen.helper.prefix, ...opts.command]
        : opts.command;
  const usesHelper = chosen.strategy === 'subreaper';
  const stdout = new TailBuffer(opts.outputCapBytes ?? DEFAULT_OUTPUT_CAP_BYTES);
  const stderr = new TailBuffer(opts.outputCapBytes ?? DEFAULT_OUTPUT_CAP_BYTES);

  let child: ChildProcess;
  try {
    child = spawn(argv[0]!, argv.slice(1), {
      cwd,
      env,
      detached: true,
      stdio: [...(opts.inheritStdio ? (['inherit', 'inherit', 'inherit'] as const) : (['ignore', 'pipe', 'pipe'] as const)), ...(usesHelper ? (['pipe'] as const) : [])],
    });
  } catch (err) {
    await chosen.cgroup?.remove();
    return failedStart(`cannot spawn ${opts.command[0]}: ${(err as Error).message}`, (err as NodeJS.ErrnoException).code ?? 'ESPAWN', startedAt, chosen.strategy);
  }

  const spawnError = await new Promise<NodeJS.ErrnoException | null>((res) => {
    child.once('spawn', () => res(null));
    child.once('error', (err) => res(err));
  });
  if (spawnError || child.pid === undefined) {
    await chosen.cgroup?.remove();
    const code = spawnError?.code ?? 'ESPAWN';
    return failedStart(`cannot spawn ${opts.command[0]}: ${spawnError?.message ?? 'no pid'}`, code, startedAt, chosen.strategy);
  }
  const rootPid = child.pid;

  const pipesClosed = Promise.all(
    [child.stdout, child.stderr].map(
      (stream, i) =>
        new Promise<void>((res) => {
          if (!stream) return res();
          stream.on('data', (chunk: Buffer) => {
            (i === 0 ? stdout : stderr).push(chunk);
          });
          stream.once('close', () => res());
          stream.once('error', () => res());
        }),
    ),
  );

  let rootExit: { code: number | null; signal: string | null } | null = null;
  const rootExited = new Promise<void>((res) =>
    child.once('exit', (code, signal) => {
      rootExit = { code, signal };
      res();
    }),
  );
  // Leader status: the child's own exit, or the helper's fd-3 report of the command's status.
  const leaderExited = usesHelper
    ? new Promise<{ code: number | null; signal: string | null } | null>((res) => {
        let text = '';
        const fd3 = child.stdio[3] as NodeJS.ReadableStream | null;
        fd3?.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          const line = /^(-?\d+)\n/.exec(text);
          if (line) res(decodeWaitStatus(Number(line[1])));
        });
        void rootExited.then(() => setImmediate(() => res(null)));
      })
    : rootExited.then(() => rootExit);

  const handle: TreeHandle = {
    strategy: chosen.strategy,
    rootPid,
    isRootReaped: () => rootExit !== null,
    waitRootExit: (ms) =>
      Promise.race([rootExited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]),
    cgroup: chosen.cgroup,
    tracker: chosen.strategy === 'single' ? null : newTracker(rootPid, usesHelper, procRoot),
    procRoot,
  };

  let tracking: NodeJS.Timeout | null = null;
  if (chosen.strategy === 'proc-sweep' && handle.tracker) {
    const tracker = handle.tracker;
    // Without a cgroup or subreaper, a member is only findable later if it was seen while alive.
    const track = (): void => {
      const scanStart = performance.now();
      tracker.observe(readProcTable(procRoot));
      const costMs = performance.now() - scanStart;
      tracking = setTimeout(track, Math.max(TRACK_INTERVAL_MS, costMs * TRACK_COST_FACTOR));
      tracking.unref();
    };
    track();
  }

  let timedOut = false;
  let aborted = false;
  let killing: Promise<KillReport> | null = null;
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

  const leader = await leaderExited;
  clearTimeout(timer);
  opts.abortSignal?.removeEventListener('abort', onAbort);

  let leftoverCount = 0;
  if (!killing) {
    // A normal exit that leaves children behind is how the next run starved: kill them too.
    leftoverCount = liveMembers(handle).length;
    if (leftoverCount > 0) startKill();
  }
  const kill = killing ? await (killing as Promise<KillReport>) : null;
  if (tracking) clearTimeout(tracking);
  if (usesHelper && !(await handle.waitRootExit(1_000)) && rootExit === null) {
    try {
      process.kill(rootPid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  await rootExited;
  const drained = await Promise.race([
    pipesClosed.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), PIPE_DRAIN_MS).unref()),
  ]);
  if (!drained) {
    child.stdout?.destroy();
    child.stderr?.destroy();
  }
  await chosen.cgroup?.remove();

  const status = leader ?? (usesHelper ? { code: null, signal: (rootExit as { signal: string | null } | null)?.signal ?? null } : null);
  return {
    result: {
      returncode: status?.code ?? null,
      signal: status?.signal ?? null,
      stdout: stdout.text(),
      stderr: stderr.text(),
      timed_out: timedOut,
      duration_s: elapsedS(startedAt),
    },
    strategy: chosen.strategy,
    subreaperKind: chosen.helper?.kind ?? null,
    degradedReason: chosen.degradedReason,
    aborted,
    spawnError: null,
    kill,
    leftoverCount,
  };
}
