import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CgroupManager, cgroupWrapperArgv, type RunCgroup } from './cgroup.js';
import {
  decodeWaitStatus,
  spawnDetached,
  trySignal,
  within,
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

/** What this host offers, probed once per process and shared by every run. */
export class KillEnvironment {
  /** Tests: `procRoot` for /proc/self/{mountinfo,cgroup}, `cgroups` to force a failed join, `helper` null for no C compiler. */
  constructor(
    procRoot = '/proc',
    readonly cgroups = new CgroupManager(procRoot),
    private helper?: string | null,
  ) {}

  /** The subreaper helper (subreaper.c), built by `npm ci` where a C compiler exists and by the image; null without one. */
  subreaper(): string | null {
    if (this.helper === undefined) {
      const binary = fileURLToPath(workerModule('./subreaper', import.meta.url));
      try {
        accessSync(binary, constants.X_OK);
        this.helper = binary;
      } catch {
        this.helper = null;
      }
    }
    return this.helper;
  }
}

let defaultEnv: KillEnvironment | null = null;
export const defaultKillEnvironment = (): KillEnvironment => (defaultEnv ??= new KillEnvironment());

/** `helper`: the subreaper helper's path, when it forks the command; `reasons`: why better strategies were not used. */
export interface Chosen {
  strategy: KillStrategy;
  cgroup: RunCgroup | null;
  helper: string | null;
  reasons: string[];
}

/** The best strategy at or below `start`, except `cgroup` after a failed join: cgroup.kill, the subreaper helper, the /proc sweep. */
async function chooseStrategy(start: KillStrategy, killEnv: KillEnvironment, joinFailed: boolean, reasons: string[]): Promise<Chosen> {
  if (start === 'single') return { strategy: 'single', cgroup: null, helper: null, reasons };
  if (start === 'cgroup' && !joinFailed) {
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

/** `enterPrefix`: argv that enters the run-as account (account.ts); `onRoot`: the root's pid, before a cgroup's command is let go. */
export interface LaunchRequest {
  command: string[];
  enterPrefix: string[];
  start: KillStrategy;
  killEnv: KillEnvironment;
  spawn: Omit<SpawnOptions, 'controlFds'>;
  onRoot?: (pid: number, cgroup: string | null) => void;
}

/** Spawns helper -> cgroup wrapper -> enter prefix -> command; a cgroup's command starts once the cgroup lists the wrapper, else next strategy. */
export async function launch(req: LaunchRequest): Promise<{ chosen: Chosen; spawned: Spawned } | StartError> {
  const reasons: string[] = [];
  for (let joinFailed = false; ; joinFailed = true) {
    const chosen = await chooseStrategy(req.start, req.killEnv, joinFailed, reasons);
    let argv = [...req.enterPrefix, ...req.command];
    if (chosen.cgroup) argv = cgroupWrapperArgv(chosen.cgroup.procsFile, chosen.helper ? 4 : 3, argv);
    if (chosen.helper) argv = [chosen.helper, ...argv];
    const spawned = await spawnDetached(argv, { ...req.spawn, controlFds: (chosen.helper ? 1 : 0) + (chosen.cgroup ? 1 : 0) });
    if ('code' in spawned) {
      await chosen.cgroup?.remove();
      return spawned;
    }
    const failure = chosen.cgroup && (await confirmJoin(spawned, chosen.cgroup));
    if (!failure) {
      req.onRoot?.(spawned.pid, chosen.cgroup?.path ?? null);
      if (chosen.cgroup) spawned.controls.at(-1)!.send('go');
      return { chosen, spawned };
    }
    reasons.push(`cgroup: ${failure}`);
    await stopWrapper(spawned);
    await chosen.cgroup!.remove();
  }
}

/** null when the wrapper is in the run cgroup (the caller then tells it to go on); else why not. */
async function confirmJoin(spawned: Spawned, cgroup: RunCgroup): Promise<string | null> {
  const report = await spawned.controls.at(-1)!.next(JOIN_REPORT_MS);
  const m = report === null ? null : /^(\S+) (\d+)$/.exec(report);
  if (!m) return 'the wrapper did not report its join';
  const wrapperPid = Number(m[2]);
  const listed = (): boolean => cgroup.pids().includes(wrapperPid);
  // moveIn: the wrapper may lack the rights (another user, a delegated subtree); we may not.
  if ((m[1] === 'joined' && listed()) || (cgroup.moveIn(wrapperPid) && listed())) return null;
  return m[1] === 'joined'
    ? 'the wrapper said it joined, but the run cgroup does not list it'
    : `join failed: cannot write ${cgroup.procsFile}`;
}

/** The wrapper exits 125 on `stop` without running the command; SIGKILL if it does not. */
async function stopWrapper(spawned: Spawned): Promise<void> {
  const { child } = spawned;
  const exit = new Promise<void>((res) => (child.exitCode !== null || child.signalCode !== null ? res() : child.once('exit', () => res())));
  spawned.controls.at(-1)!.send('stop');
  if (!(await within(exit, WRAPPER_EXIT_MS))) {
    trySignal(spawned.pid, 'SIGKILL');
    await exit;
  }
  for (const control of spawned.controls) control.destroy();
  child.stdout?.destroy();
  child.stderr?.destroy();
}

/** How the command ended: its status, or the subreaper helper died before reporting it (someone SIGKILLed it). */
export type LeaderEnd =
  { kind: 'exited'; status: ExitStatus } | { kind: 'helper-died'; commandPid: number | null; helperStatus: ExitStatus };

export type LeaderWatch = ReturnType<typeof watchLeader>;

/** Leader status: the child's own exit; with the subreaper helper, its fd-3 lines `pid N` (the command it forked) and `status S`. */
export function watchLeader(child: ChildProcess, helper: ControlChannel | null) {
  let rootStatus: ExitStatus | null = null;
  const rootExited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      rootStatus = { code, signal };
      resolve();
    }),
  );
  const helperEnd = async (channel: ControlChannel): Promise<LeaderEnd> => {
    let commandPid: number | null = null;
    // The helper writes its lines before it can exit, so a closed channel means no more lines.
    for (let line = await channel.next(); line !== null; line = await channel.next()) {
      const m = /^(pid|status) (-?\d+)$/.exec(line);
      if (m?.[1] === 'pid') commandPid = Number(m[2]);
      if (m?.[1] === 'status') return { kind: 'exited', status: decodeWaitStatus(Number(m[2])) };
    }
    await rootExited;
    return { kind: 'helper-died', commandPid, helperStatus: rootStatus ?? { code: null, signal: null } };
  };
  const end = helper ? helperEnd(helper) : rootExited.then((): LeaderEnd => ({ kind: 'exited', status: rootStatus! }));
  // rootExited: Node has reaped the root (the command, or the helper)
  return { end, rootExited, isRootReaped: () => rootStatus !== null };
}
