import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CgroupManager, cgroupWrapperArgv, GO, JOINED, STOP, type RunCgroup } from './cgroup.js';
import {
  decodeWaitStatus,
  isStartError,
  spawnDetached,
  type ControlChannel,
  type ExitStatus,
  type SpawnOptions,
  type Spawned,
  type StartError,
} from './spawn.js';
import type { ChildProcess } from 'node:child_process';
import type { KillStrategy } from './tree-tracker.js';
import { workerModule } from '../worker-module.js';

/** A wrapper that has not reported its join by then is treated as a failed join. */
const JOIN_REPORT_MS = 30_000;
const WRAPPER_EXIT_MS = 2_000;

/**
 * The subreaper helper (subreaper.c), compiled by `npm ci` where a C compiler exists and by the
 * image's build stage; null without one.
 */
function subreaperBinary(): string | null {
  const binary = fileURLToPath(workerModule('./subreaper', import.meta.url));
  try {
    accessSync(binary, constants.X_OK);
    return binary;
  } catch {
    return null;
  }
}

/** What this host offers, probed once per process and shared by every run. */
export class KillEnvironment {
  readonly cgroups: CgroupManager;
  private helper: string | null | undefined;

  /**
   * `procRoot` is where /proc/self/{mountinfo,cgroup} are read; `cgroups` replaces the manager (tests
   * force a failed join with it); `helper` null is a host where `npm ci` found no C compiler (tests).
   */
  constructor(procRoot = '/proc', cgroups?: CgroupManager, helper?: string | null) {
    this.cgroups = cgroups ?? new CgroupManager(procRoot);
    this.helper = helper;
  }

  /** The subreaper helper's path, or null. */
  subreaper(): string | null {
    if (this.helper === undefined) this.helper = subreaperBinary();
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

export interface Chosen {
  strategy: KillStrategy;
  cgroup: RunCgroup | null;
  /** The subreaper helper's path, when it forks the command. */
  helper: string | null;
  /** Why better strategies were not used. */
  reasons: string[];
}

/**
 * The best strategy at or below `start`, skipping those in `excluded` (a cgroup whose join
 * failed): cgroup.kill, then the subreaper helper, then the /proc sweep.
 */
async function chooseStrategy(
  start: KillStrategy,
  killEnv: KillEnvironment,
  excluded: ReadonlySet<KillStrategy>,
  reasons: string[],
): Promise<Chosen> {
  if (start === 'single') return { strategy: 'single', cgroup: null, helper: null, reasons };
  if (start === 'cgroup' && !excluded.has('cgroup')) {
    const support = await killEnv.cgroups.detect();
    const cgroup = support.ok ? await killEnv.cgroups.create() : null;
    // The helper stays outside the cgroup: cgroup.kill spares it, so it still reports the command's status,
    // and an escapee that left the cgroup is still its descendant.
    if (cgroup) return { strategy: 'cgroup', cgroup, helper: killEnv.subreaper(), reasons };
    reasons.push(support.ok ? 'cgroup: could not create the run cgroup' : `cgroup: ${support.reason}`);
  }
  if (start !== 'proc-sweep') {
    const helper = killEnv.subreaper();
    if (helper) return { strategy: 'subreaper', cgroup: null, helper, reasons };
    reasons.push('subreaper: no helper binary (`npm ci` builds it where a C compiler exists)');
  }
  return { strategy: 'proc-sweep', cgroup: null, helper: null, reasons };
}

export interface LaunchRequest {
  command: string[];
  /** argv that enters the run-as account right before the command (account.ts), or [] to stay ourselves. */
  enterPrefix: string[];
  start: KillStrategy;
  killEnv: KillEnvironment;
  spawn: Omit<SpawnOptions, 'controlFds'>;
  /** Called with the pid of the run's root (every process of the run descends from it) and its run cgroup, before a cgroup's command is let go. */
  onRoot?: (pid: number, cgroup: string | null) => void;
}

export interface Launched {
  chosen: Chosen;
  spawned: Spawned;
}

/** helper -> cgroup wrapper -> enter (close fds, setpriv, cd) -> command; each part only when chosen. */
function argvFor(chosen: Chosen, command: string[]): string[] {
  let argv = command;
  if (chosen.cgroup) argv = cgroupWrapperArgv(chosen.cgroup.procsFile, chosen.helper ? 4 : 3, argv);
  if (chosen.helper) argv = [chosen.helper, ...argv];
  return argv;
}

/**
 * Spawns the command under the best strategy that really holds it. With a cgroup, the command
 * starts only once the run cgroup lists the wrapper (joined by itself, or moved in by us); a
 * join that fails either way stops the wrapper before the command runs and tries the next
 * strategy, with the reason recorded.
 */
export async function launch(req: LaunchRequest): Promise<Launched | StartError> {
  const excluded = new Set<KillStrategy>();
  const reasons: string[] = [];
  for (;;) {
    const chosen = await chooseStrategy(req.start, req.killEnv, excluded, reasons);
    const argv = argvFor(chosen, [...req.enterPrefix, ...req.command]);
    const spawned = await spawnDetached(argv, { ...req.spawn, controlFds: (chosen.helper ? 1 : 0) + (chosen.cgroup ? 1 : 0) });
    if (isStartError(spawned)) {
      await chosen.cgroup?.remove();
      return spawned;
    }
    if (!chosen.cgroup) {
      req.onRoot?.(spawned.pid, null);
      return { chosen, spawned };
    }
    const failure = await confirmJoin(spawned, chosen.cgroup);
    if (failure === null) {
      req.onRoot?.(spawned.pid, chosen.cgroup.path);
      spawned.controls.at(-1)!.send(GO);
      return { chosen, spawned };
    }
    reasons.push(`cgroup: ${failure}`);
    excluded.add('cgroup');
    await stopWrapper(spawned);
    await chosen.cgroup.remove();
  }
}

/** null when the wrapper is in the run cgroup (the caller then tells it to go on); else why not. */
async function confirmJoin(spawned: Spawned, cgroup: RunCgroup): Promise<string | null> {
  const control = spawned.controls.at(-1)!;
  const report = await control.next(JOIN_REPORT_MS);
  const m = report === null ? null : /^(\S+) (\d+)$/.exec(report);
  if (!m) return 'the wrapper did not report its join';
  const wrapperPid = Number(m[2]);
  const listed = (): boolean => cgroup.pids().includes(wrapperPid);
  // moveIn: the wrapper may lack the rights (another user, a delegated subtree); we may not.
  if ((m[1] === JOINED && listed()) || (cgroup.moveIn(wrapperPid) && listed())) return null;
  return m[1] === JOINED
    ? 'the wrapper said it joined, but the run cgroup does not list it'
    : `join failed: cannot write ${cgroup.procsFile}`;
}

/** The wrapper exits 125 on STOP without running the command; SIGKILL if it does not. */
async function stopWrapper(spawned: Spawned): Promise<void> {
  const { child } = spawned;
  const hasExited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const exited = new Promise<boolean>((res) => {
    if (hasExited()) return res(true);
    child.once('exit', () => res(true));
    setTimeout(() => res(false), WRAPPER_EXIT_MS).unref();
  });
  spawned.controls.at(-1)!.send(STOP);
  if (!(await exited)) {
    try {
      process.kill(spawned.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
    await new Promise<void>((res) => (hasExited() ? res() : child.once('exit', () => res())));
  }
  for (const control of spawned.controls) control.destroy();
  child.stdout?.destroy();
  child.stderr?.destroy();
}

/** How the command ended, as far as the runner can know it. */
export type LeaderEnd =
  | { kind: 'exited'; status: ExitStatus }
  /** The subreaper helper died before it reported the command's status (someone SIGKILLed it). */
  | { kind: 'helper-died'; commandPid: number | null; helperStatus: ExitStatus };

export interface LeaderWatch {
  /** Resolves when the command's status is known, or the helper died without reporting it. */
  end: Promise<LeaderEnd>;
  /** Resolves when Node has reaped the root (the command, or the helper). */
  rootExited: Promise<void>;
  isRootReaped(): boolean;
}

/**
 * Leader status, the execa way: the child's own exit; with the subreaper helper, its fd-3
 * lines `pid N` (the command, forked and setsid'd by the helper) and `status S`.
 */
export function watchLeader(child: ChildProcess, helper: ControlChannel | null): LeaderWatch {
  let rootStatus: ExitStatus | null = null;
  const rootExited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      rootStatus = { code, signal };
      resolve();
    }),
  );
  const end = helper
    ? helperEnd(helper, rootExited, () => rootStatus)
    : rootExited.then((): LeaderEnd => ({ kind: 'exited', status: rootStatus! }));
  return { end, rootExited, isRootReaped: () => rootStatus !== null };
}

async function helperEnd(helper: ControlChannel, rootExited: Promise<void>, rootStatus: () => ExitStatus | null): Promise<LeaderEnd> {
  let commandPid: number | null = null;
  for (;;) {
    // The helper writes its lines before it can exit, so a closed channel means no more lines.
    const line = await helper.next();
    if (line === null) break;
    const m = /^(pid|status) (-?\d+)$/.exec(line);
    if (m?.[1] === 'pid') commandPid = Number(m[2]);
    if (m?.[1] === 'status') return { kind: 'exited', status: decodeWaitStatus(Number(m[2])) };
  }
  await rootExited;
  return { kind: 'helper-died', commandPid, helperStatus: rootStatus() ?? { code: null, signal: null } };
}
