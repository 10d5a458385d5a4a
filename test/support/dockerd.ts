import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/**
 * A private Docker Engine for tests: its own data-root, exec-root and socket under /tmp/owd-XXXX,
 * no bridge, no iptables, so nothing host-wide is touched and several can run side by side.
 *
 * What works on these machines (Debian docker.io 20.10, cgroup v1 hierarchy under /sys/fs/cgroup
 * plus a v2 at /sys/fs/cgroup/unified):
 * - no cgroup flags are needed: outside systemd dockerd already picks the cgroupfs driver and the
 *   v1 hierarchy; the unified mount is ignored (hybrid mode). "blkio weight" warnings are harmless.
 * - overlay2 on /tmp works; containers need `--network none` because there is no bridge.
 * - the exec-root holds containerd's socket, whose path must stay under ~100 chars: keep dirs short.
 * - busybox `sleep` as PID 1 ignores SIGTERM, so halt() waits each container's stop timeout (10 s
 *   by default; `--shutdown-timeout` does not shorten it): run containers with `--init` (the host's
 *   docker-init forwards SIGTERM) or `--stop-timeout 1` to keep halt/restart near 1 s.
 * - dockerd 20.10 still writes /etc/docker/key.json (no flag moves it); it is harmless and shared.
 * - `--config-file` points at an empty file so a host /etc/docker/daemon.json cannot change the daemon.
 */

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface DockerOptions {
  /** Fed to the CLI's stdin (e.g. a tar stream for `docker import -`). */
  stdin?: Readable | string | Buffer;
  timeoutMs?: number;
}

export interface Dockerd {
  /** The Engine API socket (WATCHDOG_DOCKER_SOCK). */
  socketPath: string;
  /** The temp dir holding everything of this daemon. */
  dir: string;
  /** Runs the docker CLI against this daemon; never rejects on a non-zero exit. */
  docker(args: string[], opts?: DockerOptions): Promise<DockerResult>;
  /** Like docker() but rejects with the CLI's stderr when it exits non-zero. */
  dockerOk(args: string[], opts?: DockerOptions): Promise<string>;
  /** Stops the daemon (SIGTERM) but keeps its data-root, like `systemctl stop docker`. */
  halt(): Promise<void>;
  /** Starts the daemon again on the same data-root (halts it first if it runs). */
  restart(): Promise<void>;
  isRunning(): boolean;
  /** The daemon's log, for failure messages. */
  logTail(lines?: number): string;
  /** Removes every container, stops the daemon, unmounts and deletes its dirs. Idempotent. */
  stop(): Promise<void>;
}

const PING_TIMEOUT_MS = 30_000;
const HALT_TIMEOUT_MS = 20_000;
const OWNER_FILE = 'owner.pid';

const live = new Set<Instance>();
let exitHookInstalled = false;

interface Instance {
  dir: string;
  pidFile: string;
  socketPath: string;
  child: ChildProcess | null;
  stopped: boolean;
}

function dockerEnv(dir: string): NodeJS.ProcessEnv {
  // A private CLI config dir, so the CLI never reads or writes ~/.docker.
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(dir, 'cli') };
  delete env.DOCKER_HOST;
  delete env.DOCKER_CONTEXT;
  return env;
}

function daemonArgs(dir: string, socketPath: string, pidFile: string): string[] {
  return [
    '--iptables=false',
    '--ip-forward=false',
    '--ip-masq=false',
    '--bridge=none',
    '--shutdown-timeout=1',
    '--log-level=warn',
    `--config-file=${join(dir, 'daemon.json')}`,
    `--data-root=${join(dir, 'd')}`,
    `--exec-root=${join(dir, 'e')}`,
    `--pidfile=${pidFile}`,
    '-H',
    `unix://${socketPath}`,
  ];
}

function ping(socketPath: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readPid(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Processes whose command line names our dir: the daemon's containerd and the shims that outlive a killed daemon. */
function pidsMentioning(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) pids.push(Number(entry));
    } catch {
      // the process exited while we looked
    }
  }
  return pids;
}

function unmountUnder(dir: string): void {
  let mounts: string[];
  try {
    mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4] ?? '')
      .filter((mountPoint) => mountPoint.startsWith(dir + '/'));
  } catch {
    return;
  }
  // Deepest first, lazily: a busy overlay must never stop the cleanup.
  for (const mountPoint of mounts.sort((a, b) => b.length - a.length)) {
    spawnSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
  }
}

/** Last-resort cleanup that needs no event loop: used by stop(), the exit hook and the stale sweep. */
function destroySync(inst: Pick<Instance, 'dir' | 'pidFile' | 'socketPath'>, removeContainers: boolean): void {
  const pid = readPid(inst.pidFile);
  if (removeContainers && pid !== null && isAlive(pid)) {
    const env = dockerEnv(inst.dir);
    const host = `unix://${inst.socketPath}`;
    const ids = spawnSync('docker', ['-H', host, 'ps', '-aq'], { env, encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
    const list = ids.split('\n').filter(Boolean);
    if (list.length > 0) spawnSync('docker', ['-H', host, 'rm', '-f', ...list], { env, stdio: 'ignore', timeout: 30_000 });
  }
  if (pid !== null && isAlive(pid)) {
    process.kill(pid, 'SIGTERM');
    for (let waited = 0; waited < HALT_TIMEOUT_MS && isAlive(pid); waited += 100) sleepSync(100);
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  for (const leftover of pidsMentioning(inst.dir)) {
    try {
      process.kill(leftover, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  sleepSync(50);
  unmountUnder(inst.dir);
  rmSync(inst.dir, { recursive: true, force: true });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A failed or aborted test file still leaves no daemon, shim or mount behind.
  process.on('exit', () => {
    for (const inst of live) destroySync(inst, true);
    live.clear();
  });
}

/**
 * A detached shell that outlives the test process: vitest ends its fork workers without an
 * 'exit' event (and a worker can be SIGKILLed), so this is what guarantees no daemon, shim,
 * container or mount stays behind. It exits early once stop() has removed the dir.
 */
const GUARDIAN = `
owner=$1; dir=$2
while kill -0 "$owner" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
[ -d "$dir" ] || exit 0
export DOCKER_CONFIG="$dir/cli"
pid=$(cat "$dir/dockerd.pid" 2>/dev/null)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  ids=$(timeout 10 docker -H "unix://$dir/s" ps -aq 2>/dev/null)
  [ -n "$ids" ] && timeout 30 docker -H "unix://$dir/s" rm -f $ids >/dev/null 2>&1
  kill -TERM "$pid" 2>/dev/null
  i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
  kill -KILL "$pid" 2>/dev/null
fi
for p in /proc/[0-9]*; do
  n=\${p#/proc/}
  [ "$n" = "$$" ] && continue
  tr '\\0' ' ' < "$p/cmdline" 2>/dev/null | grep -qF "$dir" && kill -KILL "$n" 2>/dev/null
done
awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
rm -rf "$dir"
`;

function startGuardian(dir: string): void {
  const guard = spawn('sh', ['-c', GUARDIAN, 'owd-dockerd-guard', String(process.pid), dir], { detached: true, stdio: 'ignore' });
  guard.unref();
}

/** Daemons whose test process died without cleanup (SIGKILL, OOM): removed on the next start. */
function sweepStale(): void {
  let entries: string[];
  try {
    entries = readdirSync('/tmp').filter((e) => e.startsWith('owd-'));
  } catch {
    return;
  }
  for (const entry of entries) {
    const dir = join('/tmp', entry);
    const owner = readPid(join(dir, OWNER_FILE));
    if (owner === null || isAlive(owner)) continue;
    destroySync({ dir, pidFile: join(dir, 'dockerd.pid'), socketPath: join(dir, 's') }, true);
  }
}

async function launch(inst: Instance): Promise<void> {
  const logFd = openSync(join(inst.dir, 'dockerd.log'), 'a');
  const child = spawn('dockerd', daemonArgs(inst.dir, inst.socketPath, inst.pidFile), {
    stdio: ['ignore', logFd, logFd],
    env: dockerEnv(inst.dir),
  });
  closeSync(logFd);
  inst.child = child;
  let exited: string | null = null;
  child.once('exit', (code, signal) => {
    exited = `dockerd exited (${signal ?? code})`;
  });
  child.once('error', (err) => {
    exited = `dockerd could not start: ${err.message}`;
  });
  const deadline = Date.now() + PING_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited !== null) break;
    if (await ping(inst.socketPath, 1_000)) return;
    await sleep(100);
  }
  const why = exited ?? `dockerd did not answer /_ping within ${PING_TIMEOUT_MS} ms`;
  throw new Error(`${why}\n--- dockerd log ---\n${tail(join(inst.dir, 'dockerd.log'), 30)}`);
}

async function terminate(inst: Instance): Promise<void> {
  const child = inst.child;
  inst.child = null;
  if (child?.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timedOut = await Promise.race([gone.then(() => false), sleep(HALT_TIMEOUT_MS).then(() => true)]);
  if (timedOut) {
    child.kill('SIGKILL');
    await gone;
  }
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function runCli(inst: Instance, args: string[], opts: DockerOptions = {}): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', ['-H', `unix://${inst.socketPath}`, ...args], {
      env: dockerEnv(inst.dir),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    if (opts.stdin === undefined) child.stdin.end();
    else if (typeof opts.stdin === 'string' || Buffer.isBuffer(opts.stdin)) child.stdin.end(opts.stdin);
    else opts.stdin.pipe(child.stdin);
  });
}

/** Starts a private dockerd and resolves once it answers /_ping. Call stop() in afterAll. */
export async function startDockerd(): Promise<Dockerd> {
  installExitHook();
  sweepStale();
  const dir = mkdtempSync('/tmp/owd-');
  writeFileSync(join(dir, OWNER_FILE), String(process.pid));
  writeFileSync(join(dir, 'daemon.json'), '{}\n');
  mkdirSync(join(dir, 'cli'));
  const inst: Instance = { dir, pidFile: join(dir, 'dockerd.pid'), socketPath: join(dir, 's'), child: null, stopped: false };
  live.add(inst);
  startGuardian(dir);
  try {
    await launch(inst);
  } catch (err) {
    live.delete(inst);
    await terminate(inst).catch(() => undefined);
    destroySync(inst, false);
    throw err;
  }

  const docker = (args: string[], opts?: DockerOptions) => runCli(inst, args, opts);
  const isRunning = () => inst.child !== null && inst.child.exitCode === null && inst.child.signalCode === null;
  return {
    socketPath: inst.socketPath,
    dir,
    docker,
    async dockerOk(args, opts) {
      const r = await docker(args, opts);
      if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
      return r.stdout;
    },
    async halt() {
      await terminate(inst);
    },
    async restart() {
      if (inst.stopped) throw new Error('this dockerd was stopped for good');
      await terminate(inst);
      await launch(inst);
    },
    isRunning,
    logTail(lines = 30) {
      return tail(join(dir, 'dockerd.log'), lines);
    },
    async stop() {
      if (inst.stopped) return;
      inst.stopped = true;
      if (isRunning()) {
        const ids = (await docker(['ps', '-aq'], { timeoutMs: 10_000 })).stdout.split('\n').filter(Boolean);
        if (ids.length > 0) await docker(['rm', '-f', ...ids], { timeoutMs: 30_000 });
      }
      await terminate(inst);
      destroySync(inst, false);
      live.delete(inst);
    },
  };
}
