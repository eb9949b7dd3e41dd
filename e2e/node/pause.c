/* The pod sandbox's process (e2e/bin/cluster.sh builds it into the local node's pause image).
 * It only keeps the pod's namespaces alive: it sleeps until told to stop, and reaps the
 * orphans a pod sharing its process namespace hands to PID 1. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) {
  (void)sig;
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  signal(SIGINT, stop);
  signal(SIGTERM, stop);
  signal(SIGCHLD, reap);
  for (;;) pause();
}
