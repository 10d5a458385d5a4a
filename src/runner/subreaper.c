/*
 * The subreaper helper of orch-watchdog's runner (src/runner/launch.ts). Built once, by `npm ci`
 * (scripts/build-subreaper.sh) where a C compiler exists and statically by the image's build stage.
 *
 * Node cannot call prctl(PR_SET_CHILD_SUBREAPER) and libuv does not reap adopted children, so the
 * subreaper is this tiny process: it marks itself subreaper, forks the command, reports the
 * command's pid and then its wait status on fd 3 (`pid N`, `status S`) and keeps reaping every
 * orphan of the tree until none is left. Orphans (double-forked daemons, setsid escapees whose
 * parent died) are re-parented to it instead of init, so a walk of its descendants finds the whole
 * tree. The command leads its own session and group (setsid), so killpg reaches the command's
 * group without touching the helper. The helper ignores SIGTERM, SIGINT and SIGHUP so it outlives
 * the TERM phase; the runner kills it last.
 *
 * `--close-fds CMD [ARGS...]` is its other role, right before a re-test drops to its account:
 * close every fd above 2 (what the watchdog inherited without CLOEXEC: libuv passes it on) and
 * exec CMD, same pid.
 */
#define _GNU_SOURCE
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
