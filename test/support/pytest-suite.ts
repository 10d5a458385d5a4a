import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcTree, readProcTable } from '../../src/proc/proc-table.js';
import { readStat } from '../../src/proc/read-proc.js';
import { isRunningState } from '../../src/proc/parse-stat.js';
import { waitFor } from './wait-for.js';

/** Debian's python3-pytest: a real test runner, started the way agents and the merge gate start it. */
export const PYTEST = '/usr/bin/pytest';

export const SLOW_TEST = 'import time\n\ndef test_slow():\n    time.sleep(120)\n';

/** Real processes and suite directories of one test file, all ended by `cleanup()`. */
export class PytestLab {
  private readonly dirs: string[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly extraPids = new Set<number>();

  /** A throwaway suite directory holding `files`. */
  suite(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), 'pytest-suite-'));
    this.dirs.push(dir);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  }

  spawn(command: string, args: string[], opts: { stdin?: 'pipe' } = {}): ChildProcess {
    const child = spawn(command, args, { stdio: [opts.stdin ?? 'ignore', 'ignore', 'ignore'] });
    this.children.push(child);
    return child;
  }

  /** `bash -c 'cd DIR && pytest …; true'`: the wrapper an agent or a CI script uses; it outlives pytest. */
  wrapped(dir: string, args = '-q -p no:cacheprovider'): ChildProcess {
    return this.spawn('bash', ['-c', `cd ${dir} && ${PYTEST} ${args}; true`]);
  }

  /** The real pytest below `ancestorPid`, once it runs (its argv is `python3 /usr/bin/pytest …`). */
  async pytestBelow(ancestorPid: number): Promise<{ pid: number; startTicks: number }> {
    let found: { pid: number; startTicks: number } | undefined;
    await waitFor(
      `pytest to start below ${ancestorPid}`,
      () => {
        const tree = new ProcTree(readProcTable());
        const hit = tree.descendants(ancestorPid).find((s) => s.comm === 'pytest');
        if (hit) found = { pid: hit.pid, startTicks: hit.startTicks };
        return found !== undefined;
      },
      { timeoutMs: 30_000 },
    );
    this.extraPids.add(found!.pid);
    return found!;
  }

  /** Remembers a pid to SIGKILL at cleanup (a leftover re-parented away from our children). */
  track(pid: number): void {
    this.extraPids.add(pid);
  }

  cleanup(): void {
    for (const pid of this.extraPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    this.extraPids.clear();
    for (const c of this.children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

/** Running and not a zombie. */
export function isLive(pid: number): boolean {
  const s = readStat(pid);
  return s !== null && isRunningState(s.state);
}

/** Host pids whose command line carries `marker`, read from /proc (what `pgrep -f` sees); zombies have none. */
export function markedPids(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'latin1').includes(marker)) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}
