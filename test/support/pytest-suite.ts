import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcTree, readProcTable } from '../../src/proc/proc-table.js';
import { readStat } from '../../src/proc/read-proc.js';
import { isRunningState } from '../../src/proc/parse-stat.js';
import { waitFor } from './wait-for.js';

/** Debian's python3-pytest: a real test runner, started the way agents and the merge gate start it. */
export const PYTEST = '/usr/bin/pytest';

export const SLOW_TEST = 'import time\n\ndef test_slow():\n    time.sleep(120)\n';

/** A test whose fixture starts a TCP server and, in a session of its own, a flock holder: both outlive a killed pytest. */
const LEAVES_BEHIND = `
import fcntl, os, subprocess, sys, time
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = "import socket, sys, time\\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\\nopen(sys.argv[1], 'w').write(str(s.getsockname()[1])); time.sleep(300)"
LOCKER = "import fcntl, sys, time\\nf = open(sys.argv[1], 'w'); fcntl.flock(f, fcntl.LOCK_EX)\\nopen(sys.argv[1] + '.ready', 'w').write('1'); time.sleep(300)"

@pytest.fixture
def services():
    server = subprocess.Popen([sys.executable, '-c', SERVER, os.path.join(HERE, 'port')])
    locker = subprocess.Popen([sys.executable, '-c', LOCKER, os.path.join(HERE, 'suite.lock')], start_new_session=True)
    open(os.path.join(HERE, 'pids'), 'w').write('%d %d' % (server.pid, locker.pid))
    yield
    server.kill(); locker.kill()

def test_uses_services(services):
    time.sleep(300)
`;

/** A pytest run whose fixture's server and flock holder will outlive it, once both run. */
export interface LeavingRun {
  dir: string;
  wrapper: ChildProcess;
  pytest: { pid: number; startTicks: number };
  server: number;
  locker: number;
  port: number;
}

/** Real processes and suite directories of one test file, all ended by `cleanup()`. */
export class PytestLab {
  private readonly dirs: string[] = [];
  private readonly children: ChildProcess[] = [];
  /** pid → its starttime when tracked: cleanup signals only that process, never a later holder of the pid. */
  private readonly extraPids = new Map<number, number>();

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
    this.extraPids.set(found!.pid, found!.startTicks);
    return found!;
  }

  /** A `bash -c` wrapper running a pytest whose fixture starts a server and a flock holder; waits until both run. */
  async leavingRun(): Promise<LeavingRun> {
    const dir = this.suite({ 'test_leaves.py': LEAVES_BEHIND });
    const wrapper = this.wrapped(dir, '-q -p no:cacheprovider -s');
    const pytest = await this.pytestBelow(wrapper.pid!);
    await waitFor(
      'the fixture to start its services',
      () => ['port', 'suite.lock.ready', 'pids'].every((f) => existsSync(join(dir, f)) && readFileSync(join(dir, f), 'utf8') !== ''),
      { timeoutMs: 30_000 },
    );
    const [server, locker] = readFileSync(join(dir, 'pids'), 'utf8').split(' ').map(Number) as [number, number];
    this.track(server);
    this.track(locker);
    return { dir, wrapper, pytest, server, locker, port: Number(readFileSync(join(dir, 'port'), 'utf8')) };
  }

  /** Remembers a pid to SIGKILL at cleanup (a leftover re-parented away from our children). */
  track(pid: number): void {
    const st = readStat(pid);
    if (st) this.extraPids.set(pid, st.startTicks);
  }

  cleanup(): void {
    // pids are reused fast on a busy host (pid_max 32768): a test run's pid killed by its number
    // alone once killed another suite's orphan mid-replay
    for (const [pid, startTicks] of this.extraPids) {
      if (readStat(pid)?.startTicks !== startTicks) continue;
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
