import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { RetestRegistry } from '../watchdog/retest-registry.js';
import type { Signal } from '../watchdog/signal.js';
import type { LockHolderFinder } from './classify.js';
import type { QueuedJob } from './policy.js';
import { runProcess, type RunOptions, type RunReport } from '../runner/run.js';
import { PressureRecorder, type PressureProbe } from './pressure.js';
import { isRunningState } from '../proc/parse-stat.js';
import { readStat } from '../proc/read-proc.js';
import { enterAs, type RunAs } from '../runner/account.js';
import { defaultKillEnvironment, type KillEnvironment } from '../runner/launch.js';
import { findOnPath } from '../runner/spawn.js';
import { killOrphanTree } from '../runner/tree-kill.js';
import { DEFAULT_PRESSURE_POLL_MS, type KnownAs, type MergeGateOptions, type PressureEvidence, type StartedTree } from './types.js';

export interface MergeGateDeps {
  clock: Clock;
  log: Logger;
  /** Called exactly once per exhaustion. */
  onExhausted?: (signal: Signal) => void;
  registry?: Registry;
  run?: (opts: RunOptions) => Promise<RunReport>;
  killEnv?: KillEnvironment;
  /** Reads HEAD in cwd as the re-test's own account. */
  isHeadValidated?: (cwd: string, validatedSha: string | undefined, runAs: RunAs) => Promise<boolean>;
  pressure?: PressureProbe;
  findLockHolders?: LockHolderFinder;
  knownAs?: (pid: number) => KnownAs | null;
  /** The watchdog's own uid; re-tests never run as it. */
  selfUid?: number;
  /** Each running attempt's root process is registered here, so the /proc scan names it as its owner. */
  retests?: RetestRegistry;
}

/** Runs one attempt's command (whole-tree kill on timeout or abort) while sampling the pressure it runs under; `flight.tree`: where it runs. */
export async function runAttempt(
  { run, request, runAs }: QueuedJob,
  flight: { abort: AbortController; tree?: StartedTree },
  opts: MergeGateOptions,
  deps: MergeGateDeps,
  probe: PressureProbe,
): Promise<{ report: RunReport; pressure: PressureEvidence }> {
  const recorder = new PressureRecorder(probe);
  const sampling = setInterval(() => recorder.observe(), opts.pressurePollMs ?? DEFAULT_PRESSURE_POLL_MS);
  sampling.unref();
  const timeoutMs = (request.timeoutS ?? opts.mergeRetestTimeoutS) * 1000;
  let unregister: (() => void) | undefined;
  try {
    const report = await (deps.run ?? runProcess)({
      command: request.command,
      cwd: request.cwd,
      env: request.env ?? {},
      timeoutMs,
      graceMs: opts.killGraceS * 1000,
      treeKill: opts.treeKillEnabled,
      abortSignal: flight.abort.signal,
      runAs: { uid: runAs.uid, gid: runAs.gid },
      ...(deps.killEnv ? { killEnv: deps.killEnv } : {}),
      onRoot: (root, where) => {
        // the /proc scan names the root as the re-test's until it is unregistered
        unregister = deps.retests?.register(root.pid, root.startTicks, run.id, deps.clock() + timeoutMs);
        flight.tree = { ...where, root };
      },
    });
    return { report, pressure: await recorder.finish() };
  } finally {
    clearInterval(sampling);
    // however the run ended (pass, timeout, cancel, shutdown, a runner error): what outlives it is no longer the gate's
    unregister?.();
  }
}

/** Ends what a dead watchdog (`deadPids`) left: its run cgroups, then each saved tree whose root is still that (pid, starttime). */
export async function endStaleRuns(
  killEnv: KillEnvironment,
  log: Logger,
  hint: { deadPids: readonly number[]; trees: readonly StartedTree[]; graceMs: number },
): Promise<void> {
  const killedMsg = 'merge gate: killed the tree of a re-test left running by a watchdog that died';
  try {
    for (const pid of hint.deadPids) {
      const stat = readStat(pid);
      if (stat && isRunningState(stat.state))
        log.warn(
          { pid },
          'merge gate: the watchdog that held the state file before has a live pid (reused, or that watchdog still exiting); its run cgroups are left alone',
        );
    }
    for (const { killed, path: cgroup, pids } of await killEnv.cgroups.killStaleRuns(hint.deadPids)) {
      if (killed) log.warn({ cgroup, pids }, killedMsg);
      else
        log.error(
          { cgroup, pids },
          'merge gate: a dead watchdog left a run cgroup holding this watchdog or an ancestor; nothing signalled',
        );
    }
    for (const tree of hint.trees) {
      const kill = await killOrphanTree(tree.root, tree.boot, hint.graceMs);
      if (kill) {
        const [pids, survivors] = [kill.receipt.processes.map((p) => p.pid), kill.survivors.map((p) => p.pid)];
        log.warn({ root_pid: tree.root.pid, pids, survivors }, killedMsg);
      }
    }
  } catch (err) {
    log.error({ err }, 'merge gate: the runs of a dead watchdog could not all be ended');
  }
}

/** HEAD in `cwd`, read as the suite's account (what the repo's config makes git run never runs as root); null on any failure. */
export function gitHead(cwd: string, runAs: RunAs, helper: string | null, timeoutMs = 10_000): Promise<string | null> {
  const git = findOnPath('git');
  const entry = git && enterAs(runAs, cwd, { GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0' }, helper);
  if (!git || !entry || 'code' in entry) return Promise.resolve(null);
  const argv = [...entry.prefix, git, '-c', `safe.directory=${cwd}`, 'rev-parse', '--verify', '--quiet', 'HEAD'];
  return new Promise((resolve) => {
    try {
      execFile(argv[0]!, argv.slice(1), { cwd: '/', timeout: timeoutMs, env: entry.env, maxBuffer: 64 * 1024 }, (err, stdout) => {
        const head = String(stdout).trim().toLowerCase();
        resolve(!err && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(head) ? head : null);
      });
    } catch {
      resolve(null);
    }
  });
}

/** Skip only when HEAD is beyond doubt the validated commit: the full hash matches (an abbreviated one could name another). */
export async function isHeadValidated(
  cwd: string,
  validatedSha: string | undefined,
  runAs: RunAs,
  killEnv: KillEnvironment = defaultKillEnvironment(),
  timeoutMs?: number,
): Promise<boolean> {
  if (!validatedSha) return false;
  const head = await gitHead(cwd, runAs, killEnv.subreaper(), timeoutMs);
  return head !== null && head === validatedSha.toLowerCase();
}
