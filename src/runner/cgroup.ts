import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { readText } from './spawn.js';
import { isRunningState } from '../proc/parse-stat.js';
import { isSignallable, watchdogGuard } from '../proc/protected-pids.js';
import { readStat } from '../proc/read-proc.js';

/** The writable cgroup2 mount point in /proc/self/mountinfo text (`/sys/fs/cgroup`, `/sys/fs/cgroup/unified` on a hybrid host). */
export function parseCgroup2Mount(mountinfo: string): string | null {
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0 || line.slice(sep + 3).split(' ')[0] !== 'cgroup2') continue;
    const [, , , , mountPoint, options = ''] = line.slice(0, sep).split(' ');
    // mountinfo escapes spaces, tabs, newlines and `\` as octal
    if (mountPoint && !options.split(',').includes('ro'))
      return mountPoint.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  }
  return null;
}

/** Our own v2 cgroup path from /proc/self/cgroup text (the `0::/path` line). */
export function parseOwnCgroup(procSelfCgroup: string): string | null {
  const line = procSelfCgroup.split('\n').find((l) => l.startsWith('0::'));
  return line === undefined ? null : line.slice(3).trim() || '/';
}

function tryRmdir(path: string): boolean {
  try {
    rmdirSync(path);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

async function rmdirRetry(path: string): Promise<boolean> {
  // A killed task leaves its cgroup a moment after it is reaped.
  for (let attempt = 0; attempt < 50; attempt++) {
    if (tryRmdir(path)) return true;
    await delay(10);
  }
  return false;
}

function childDirs(parent: string): string[] {
  try {
    return readdirSync(parent, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => join(parent, d.name));
  } catch {
    return [];
  }
}

const membersOf = (path: string): number[] => (readText(join(path, 'cgroup.procs')) ?? '').match(/^\d+$/gm)?.map(Number) ?? [];

/** Writes `data` to `file`; false when the kernel refused or the cgroup is gone. */
function tryWrite(file: string, data: string): boolean {
  try {
    writeFileSync(file, data);
    return true;
  } catch {
    return false;
  }
}

/** A stale parent and its empty runs go; one still holding a task stays (killStaleRuns ends those). */
function removeIfEmpty(parent: string): void {
  for (const run of childDirs(parent)) tryRmdir(run);
  tryRmdir(parent);
}

/** One run's leaf cgroup. */
export class RunCgroup {
  constructor(
    readonly path: string,
    readonly procsFile: string,
  ) {}

  pids(): number[] {
    return membersOf(this.path);
  }

  /** Moves `pid` in from outside (the runner's own privileges), for a wrapper that could not join. */
  moveIn(pid: number): boolean {
    return tryWrite(this.procsFile, String(pid));
  }

  /** `oom_kill` of memory.events: 0 where the memory controller is not enabled for the run cgroup. */
  oomKills(): number {
    return Number(/^oom_kill (\d+)$/m.exec(readText(join(this.path, 'memory.events')) ?? '')?.[1] ?? 0);
  }

  /** SIGKILLs every member at once, atomically against forks (kernel ≥ 5.14). */
  kill(): void {
    tryWrite(join(this.path, 'cgroup.kill'), '1');
  }

  /** Best effort; a cgroup that still holds a task stays and is retried by the next cleanup. */
  remove(): Promise<boolean> {
    return rmdirRetry(this.path);
  }
}

export type CgroupSupport = { ok: true; parent: string } | { ok: false; reason: string };

/** Shared by every manager of this process: two managers (a test's and the default) never share a leaf. */
let runSeq = 0;

/** One leaf cgroup per run under `<our cgroup>/orch-watchdog-<pid>`; no controllers, so "no internal processes" never bites. */
export class CgroupManager {
  private support: Promise<CgroupSupport> | null = null;
  private base: string | null = null;

  constructor(
    private readonly procRoot = '/proc',
    private readonly selfPid = process.pid,
    /** Tests only: the file the wrapper and moveIn write to, to force a failed join. */
    private readonly joinFileOf: (runPath: string) => string = (runPath) => join(runPath, 'cgroup.procs'),
    /** Tests only: an existing cgroup directory to use instead of this process's own cgroup. */
    private readonly baseOverride?: string,
  ) {}

  /**
   * Ends the trees of re-tests whose watchdog died (its pid is gone, or in `deadPids` and a zombie) with one `cgroup.kill`
   * each, unless a member is this watchdog or its ancestor (`killed: false`).
   */
  async killStaleRuns(deadPids: readonly number[] = []): Promise<{ path: string; pids: number[]; killed: boolean }[]> {
    const support = await this.detect();
    if (!support.ok || this.base === null) return [];
    const out = [];
    for (const parent of this.staleParents(this.base, new Set(deadPids))) {
      for (const run of childDirs(parent)) {
        const pids = membersOf(run);
        if (pids.length === 0) continue;
        const guard = watchdogGuard(this.procRoot, this.selfPid);
        const killed = pids.every((pid) => isSignallable(pid, guard));
        if (killed) {
          tryWrite(join(run, 'cgroup.kill'), '1');
          await rmdirRetry(run);
        }
        out.push({ path: run, pids, killed });
      }
      removeIfEmpty(parent);
    }
    return out;
  }

  detect(): Promise<CgroupSupport> {
    this.support ??= this.probe().catch((err: unknown) => ({ ok: false as const, reason: String(err) }));
    return this.support;
  }

  private async probe(): Promise<CgroupSupport> {
    const mount = parseCgroup2Mount(readFileSync(`${this.procRoot}/self/mountinfo`, 'utf8'));
    if (!mount) return { ok: false, reason: 'no writable cgroup2 mount' };
    const own = parseOwnCgroup(readFileSync(`${this.procRoot}/self/cgroup`, 'utf8'));
    if (own === null) return { ok: false, reason: 'no cgroup v2 membership in /proc/self/cgroup' };
    const base = this.baseOverride ?? join(mount, own);
    if (!existsSync(join(base, 'cgroup.procs'))) return { ok: false, reason: `${base} is not visible (cgroup namespace)` };
    this.base = base;
    for (const stale of this.staleParents(base)) removeIfEmpty(stale);
    const parent = join(base, `orch-watchdog-${this.selfPid}`);
    try {
      mkdirSync(parent, { recursive: true });
    } catch (err) {
      return { ok: false, reason: `cannot create ${parent}: ${(err as Error).message}` };
    }
    if (!existsSync(join(parent, 'cgroup.kill'))) {
      tryRmdir(parent);
      return { ok: false, reason: 'cgroup.kill missing (kernel older than 5.14)' };
    }
    // Prove a child can really move itself in before exec, as every run will.
    const probe = join(parent, 'probe');
    try {
      mkdirSync(probe, { recursive: true });
      await promisify(execFile)('/bin/sh', ['-c', 'echo 0 > "$0"', join(probe, 'cgroup.procs')], { timeout: 5000 });
    } catch (err) {
      tryRmdir(probe);
      tryRmdir(parent);
      return { ok: false, reason: `cannot move a process into ${probe}: ${(err as Error).message.trim()}` };
    }
    await rmdirRetry(probe);
    return { ok: true, parent };
  }

  /** A fresh leaf cgroup for one run, or null when cgroups are not usable here. */
  async create(): Promise<RunCgroup | null> {
    const support = await this.detect();
    if (!support.ok) return null;
    const path = join(support.parent, `run-${++runSeq}`);
    try {
      // recursive: the parent may have been removed by dispose() while another app lives on
      mkdirSync(path, { recursive: true });
    } catch {
      return null;
    }
    return new RunCgroup(path, this.joinFileOf(path));
  }

  /** Removes the parent; call on shutdown after every run has finished. */
  async dispose(): Promise<void> {
    const support = await this.support;
    if (support?.ok) tryRmdir(support.parent);
  }

  /** `orch-watchdog-<pid>` parents under `base` whose watchdog is gone (or, in `deadPids`, a zombie). */
  private staleParents(base: string, deadPids: ReadonlySet<number> = new Set()): string[] {
    return childDirs(base).filter((dir) => {
      const m = /\/orch-watchdog-(\d+)$/.exec(dir);
      if (m === null || Number(m[1]) === this.selfPid) return false;
      const stat = readStat(Number(m[1]), this.procRoot);
      return stat === null || (deadPids.has(stat.pid) && !isRunningState(stat.state));
    });
  }
}

/** Joins the run cgroup, reports it on fd `controlFd`, and execs the command only on the runner's `go`: a failed join never runs it outside. */
export function cgroupWrapperArgv(procsFile: string, controlFd: 3 | 4, command: string[]): string[] {
  const fd = String(controlFd);
  const script = [
    `if { echo 0 > "$0"; } 2>/dev/null; then echo "joined $$" >&${fd}; else echo "join-failed $$" >&${fd}; fi`,
    `read -r answer <&${fd} || exit 125`,
    `[ "$answer" = go ] || exit 125`,
    `exec ${fd}>&-`,
    'exec "$@"',
  ].join('\n');
  return ['/bin/sh', '-c', script, procsFile, ...command];
}
