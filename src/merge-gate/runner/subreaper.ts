import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * Node cannot call prctl(PR_SET_CHILD_SUBREAPER) and libuv does not reap adopted children, so
 * the subreaper is a tiny helper process: it marks itself subreaper, forks the command, reports
 * the command's pid and then its wait status on fd 3 (`pid N`, `status S`) and keeps reaping every orphan of the tree until none is
 * left. Orphans (double-forked daemons, setsid escapees whose parent died) are re-parented to
 * it instead of init, so a walk of its descendants finds the whole tree. The command leads its
 * own session and group (setsid), so killpg reaches the command's group without touching the
 * helper. The helper ignores SIGTERM, SIGINT and SIGHUP so it outlives the TERM phase; the
 * runner kills it last.
 *
 * `--close-fds CMD [ARGS...]` is the helper's other role, right before a re-test drops to its
 * account: close every fd above 2 (what the watchdog inherited without CLOEXEC: libuv passes it
 * on) and exec CMD, same pid.
 */
export const SUBREAPER_C = String.raw`#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void close_fds_above_2(void) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0) return;
#endif
  DIR *dir = opendir("/proc/self/fd");
  if (!dir) { for (int fd = 3; fd < 65536; fd++) close(fd); return; }
  int fds[4096], n = 0, self = dirfd(dir);
  struct dirent *e;
  while ((e = readdir(dir)) && n < 4096) { int fd = atoi(e->d_name); if (fd > 2 && fd != self) fds[n++] = fd; }
  closedir(dir);
  for (int i = 0; i < n; i++) close(fds[i]);
  if (n == 4096) close_fds_above_2();
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "--close-fds") == 0) {
    close_fds_above_2();
    execvp(argv[2], argv + 2);
    fprintf(stderr, "orch-watchdog subreaper: %s: %s\n", argv[2], strerror(errno));
    return errno == ENOENT ? 127 : 126;
  }
  if (argc < 2) { fprintf(stderr, "usage: subreaper CMD [ARGS...]\n"); return 125; }
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) { perror("orch-watchdog subreaper: prctl"); return 125; }
  fcntl(3, F_SETFD, FD_CLOEXEC);
  signal(SIGTERM, SIG_IGN); signal(SIGINT, SIG_IGN); signal(SIGHUP, SIG_IGN);
  pid_t child = fork();
  if (child < 0) { perror("orch-watchdog subreaper: fork"); return 125; }
  if (child == 0) {
    setsid();
    signal(SIGTERM, SIG_DFL); signal(SIGINT, SIG_DFL); signal(SIGHUP, SIG_DFL);
    execvp(argv[1], argv + 1);
    fprintf(stderr, "orch-watchdog subreaper: %s: %s\n", argv[1], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  dprintf(3, "pid %d\n", child);
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) { if (errno == EINTR) continue; break; }
    if (pid == child) { dprintf(3, "status %d\n", status); close(3); }
  }
  return 0;
}
`;

/** The same helper for hosts with python3 but no C compiler. */
export const SUBREAPER_PY = `import ctypes, os, signal, sys
def default_signals():
    # python itself ignores SIGPIPE and SIGXFSZ; the command must not inherit that
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGXFSZ): signal.signal(s, signal.SIG_DFL)
def run(argv):
    try: os.execvp(argv[0], argv)
    except OSError as e: sys.stderr.write("orch-watchdog subreaper: %s: %s\\n" % (argv[0], e.strerror)); os._exit(127 if e.errno == 2 else 126)
if sys.argv[1:2] == ["--close-fds"]:
    for fd in [int(f) for f in os.listdir("/proc/self/fd")]:
        if fd > 2:
            try: os.close(fd)
            except OSError: pass
    default_signals()
    run(sys.argv[2:])
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:
    sys.stderr.write("orch-watchdog subreaper: prctl failed\\n"); sys.exit(125)
os.set_inheritable(3, False)
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP): signal.signal(s, signal.SIG_IGN)
child = os.fork()
if child == 0:
    os.setsid()
    default_signals()
    run(sys.argv[1:])
os.write(3, b"pid %d\\n" % child)
while True:
    try: pid, status = os.waitpid(-1, 0)
    except InterruptedError: continue
    except ChildProcessError: break
    if pid == child: os.write(3, b"status %d\\n" % status); os.close(3)
`;

export type SubreaperKind = 'c' | 'python';

export interface SubreaperHelper {
  kind: SubreaperKind;
  /** argv to put before the command. */
  prefix: string[];
  /** argv that closes every fd above 2, then execs what follows it (same pid). */
  closeFdsPrefix: string[];
}

export function findOnPath(name: string, pathEnv = process.env.PATH ?? ''): string | null {
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

function run(file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { timeout: timeoutMs }, (err, stdout, stderr) =>
      err ? reject(new Error(`${file}: ${stderr.trim() || err.message}`)) : resolve(stdout),
    ),
  );
}

/** The interpreter behind `python` itself: a pyenv shim is a bash script that exports PYENV_* to whatever it runs. */
async function realInterpreter(python: string): Promise<string> {
  try {
    const executable = await run(python, ['-c', 'import sys; sys.stdout.write(sys.executable)'], 30_000);
    return executable.startsWith('/') ? executable : python;
  } catch {
    return python;
  }
}

/** A cache directory only this user can write: an executable cached where others write is a hole. */
function privateCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir() || tmpdir(), '.cache');
  const dir = join(base, 'orch-watchdog');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if (st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) throw new Error(`${dir} is writable by others`);
  return dir;
}

/** Compiles the C helper once into the user's cache (keyed by source hash); null without a compiler. */
export async function compileSubreaper(): Promise<string | null> {
  const cc = findOnPath('cc') ?? findOnPath('gcc') ?? findOnPath('clang');
  if (!cc) return null;
  const hash = createHash('sha256').update(SUBREAPER_C).digest('hex').slice(0, 12);
  const dir = privateCacheDir();
  const binary = join(dir, `subreaper-${hash}`);
  if (existsSync(binary)) return binary;
  const source = join(dir, `subreaper-${hash}.${process.pid}.c`);
  const tmpBinary = `${binary}.${process.pid}.tmp`;
  writeFileSync(source, SUBREAPER_C, { mode: 0o600 });
  await run(cc, ['-O2', '-o', tmpBinary, source], 60_000);
  chmodSync(tmpBinary, 0o700);
  renameSync(tmpBinary, binary);
  return binary;
}

/**
 * The best helper this host has: the compiled C one, else python3 with ctypes, else null
 * (a slim container image may have neither).
 */
export async function findSubreaperHelper(prefer?: SubreaperKind): Promise<SubreaperHelper | null> {
  if (prefer !== 'python') {
    try {
      const binary = await compileSubreaper();
      if (binary) return { kind: 'c', prefix: [binary], closeFdsPrefix: [binary, '--close-fds'] };
    } catch {
      // fall through to python
    }
  }
  const found = findOnPath('python3');
  const python = found && (await realInterpreter(found));
  if (python) return { kind: 'python', prefix: [python, '-c', SUBREAPER_PY], closeFdsPrefix: [python, '-c', SUBREAPER_PY, '--close-fds'] };
  return null;
}
