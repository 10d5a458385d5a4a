import { cgroupWrapperArgv, GO, JOINED, STOP, type RunCgroup } from './cgroup.js';
import { isStartError, spawnDetached, type SpawnOptions, type Spawned, type StartError } from './spawn.js';
import { chooseStrategy, type Chosen, type KillEnvironment } from './strategy.js';
import type { KillStrategy } from '../types.js';

/** A wrapper that has not reported its join by then is treated as a failed join. */
const JOIN_REPORT_MS = 30_000;
const WRAPPER_EXIT_MS = 2_000;

export interface LaunchRequest {
  command: string[];
  /** argv that enters the run-as account right before the command (enter.ts), or [] to stay ourselves. */
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
  if (chosen.helper) argv = [...chosen.helper.prefix, ...argv];
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
    const chosen: Chosen =
      req.start === 'single'
        ? { strategy: 'single', cgroup: null, helper: null, reasons }
        : await chooseStrategy(req.start, req.killEnv, excluded, reasons);
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
