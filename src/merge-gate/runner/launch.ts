import { cgroupWrapperArgv, GO, JOINED, STOP, type RunCgroup } from './cgroup.js';
import { isStartError, spawnDetached, type SpawnOptions, type Spawned, type StartError } from './spawn.js';
import { chooseStrategy, type Chosen, type KillEnvironment } from './strategy.js';
import type { KillStrategy } from '../types.js';

/** A wrapper that has not reported its join by then is treated as a failed join. */
const JOIN_REPORT_MS = 10_000;
const WRAPPER_EXIT_MS = 2_000;

export interface LaunchRequest {
  command: string[];
  /** setpriv argv that becomes the run-as user right before the command, or [] to stay ourselves. */
  dropPrefix: string[];
  start: KillStrategy;
  killEnv: KillEnvironment;
  spawn: Omit<SpawnOptions, 'withControl'>;
}

export interface Launched {
  chosen: Chosen;
  spawned: Spawned;
}

function argvFor(chosen: Chosen, command: string[]): string[] {
  if (chosen.cgroup) return cgroupWrapperArgv(chosen.cgroup.procsFile, command);
  if (chosen.helper) return [...chosen.helper.prefix, ...command];
  return command;
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
    const argv = argvFor(chosen, [...req.dropPrefix, ...req.command]);
    const withControl = chosen.strategy === 'cgroup' || chosen.strategy === 'subreaper';
    const spawned = await spawnDetached(argv, { ...req.spawn, withControl });
    if (isStartError(spawned)) {
      await chosen.cgroup?.remove();
      return spawned;
    }
    if (!chosen.cgroup) return { chosen, spawned };
    const failure = await confirmJoin(spawned, chosen.cgroup);
    if (failure === null) return { chosen, spawned };
    reasons.push(`cgroup: ${failure}`);
    excluded.add('cgroup');
    await stopWrapper(spawned);
    await chosen.cgroup.remove();
  }
}

/** null when the wrapper is in the run cgroup and was told to go on; else why not. */
async function confirmJoin(spawned: Spawned, cgroup: RunCgroup): Promise<string | null> {
  const control = spawned.control!;
  const report = await control.next(JOIN_REPORT_MS);
  if (report === null) return 'the wrapper did not report its join';
  const listed = (): boolean => cgroup.pids().includes(spawned.pid);
  if (report === JOINED && listed()) {
    control.send(GO);
    return null;
  }
  // The wrapper may lack the rights (another user, a delegated subtree): move it from outside.
  if (cgroup.moveIn(spawned.pid) && listed()) {
    control.send(GO);
    return null;
  }
  return report === JOINED ? 'the wrapper said it joined, but the run cgroup does not list it' : `join failed: cannot write ${cgroup.procsFile}`;
}

/** The wrapper exits 125 on STOP without running the command; SIGKILL if it does not. */
async function stopWrapper(spawned: Spawned): Promise<void> {
  const exited = new Promise<boolean>((res) => {
    if (spawned.child.exitCode !== null || spawned.child.signalCode !== null) return res(true);
    spawned.child.once('exit', () => res(true));
    setTimeout(() => res(false), WRAPPER_EXIT_MS).unref();
  });
  spawned.control!.send(STOP);
  if (!(await exited)) {
    try {
      process.kill(spawned.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
    await new Promise<void>((res) => (spawned.child.exitCode !== null || spawned.child.signalCode !== null ? res() : spawned.child.once('exit', () => res())));
  }
  spawned.control!.destroy();
  spawned.child.stdout?.destroy();
  spawned.child.stderr?.destroy();
}
