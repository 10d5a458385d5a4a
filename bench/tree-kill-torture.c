/* Load for the tree-kill torture: N idle processes (a busy host's process table) and H busy
 * loops (both cores busy), all in one process group the bench kills at the end.
 * Usage: tree-kill-torture-load N H */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int idle = argc > 1 ? atoi(argv[1]) : 5000, hogs = argc > 2 ? atoi(argv[2]) : 2;
  setpgid(0, 0);
  for (int i = 0; i < idle; i++) {
    pid_t p = fork();
    if (p == 0) { for (;;) pause(); }
    if (p < 0) { perror("fork"); break; }
  }
  for (int i = 0; i < hogs; i++) {
    if (fork() == 0) { volatile unsigned long n = 0; for (;;) n++; }
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}
