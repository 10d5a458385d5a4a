/*
 * Footprint bench helper: forks N sleeping children (no exec, a few pages each) and every second
 * replaces CHURN of them by new ones (new pids, new starttimes), like test runs coming and going.
 * Every 50th child renames its command line to a pytest argv so the scan has candidates.
 * Children die with the helper (PR_SET_PDEATHSIG); SIGTERM/SIGINT kills them all.
 * usage: sleepers N CHURN_PER_S <padding>   (the padding is argv room for the pytest name)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t *pids;
static int n;
static char *argv_start;
static size_t argv_len;
static volatile sig_atomic_t stop;

static void on_stop(int sig) { (void)sig; stop = 1; }

static pid_t spawn_one(int i, pid_t parent) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(0);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  if (i % 50 == 0) {
    /* /proc/<pid>/cmdline reads this memory: NUL-separated argv */
    char title[128];
    int len = snprintf(title, sizeof title, "python3 -m pytest tests/test_footprint_%d.py", i);
    if (len > 0 && (size_t)len + 1 < argv_len) {
      for (int c = 0; c < len; c++)
        if (title[c] == ' ') title[c] = '\0';
      memset(argv_start, 0, argv_len);
      memcpy(argv_start, title, (size_t)len);
    }
  }
  for (;;) pause();
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: sleepers N CHURN_PER_S [padding]\n");
    return 2;
  }
  n = atoi(argv[1]);
  int churn = atoi(argv[2]);
  argv_start = argv[0];
  argv_len = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) - argv[0]);
  pids = calloc((size_t)n, sizeof *pids);
  signal(SIGTERM, on_stop);
  signal(SIGINT, on_stop);
  signal(SIGCHLD, SIG_DFL);
  pid_t self = getpid();
  for (int i = 0; i < n && !stop; i++) pids[i] = spawn_one(i, self);
  printf("ready %d\n", n);
  fflush(stdout);
  long next = 0;
  while (!stop) {
    sleep(1);
    for (int k = 0; k < churn && !stop; k++, next++) {
      int i = (int)(next % n);
      if (pids[i] > 0) {
        kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0);
      }
      pids[i] = spawn_one(i, self);
    }
  }
  for (int i = 0; i < n; i++)
    if (pids[i] > 0) kill(pids[i], SIGKILL);
  while (waitpid(-1, NULL, 0) > 0) {
  }
  return 0;
}
