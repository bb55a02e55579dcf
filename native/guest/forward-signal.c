/*
 * forward-signal.c: the guest agent's 'G' frame (agent.c): a client's signal (control.signal) forwarded
 * to the program of the running stage, refused when it is not one a client may send.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "forward-signal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"

/* The direct children of PID in the agent's PID namespace (CONFIG_PROC_CHILDREN), at most MAX;
 * their count (0 when PID is gone). */
static int children_of(pid_t pid, pid_t *out, int max) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  int count = 0;
  for (char *p = buf, *end; count < max; p = end) {
    long v = strtol(p, &end, 10);
    if (end == p || v <= 1) break;
    out[count++] = (pid_t)v;
  }
  return count;
}

/* 'G': the host forwards a client's signal (control.signal) to the program. Only the signals the
 * namespace backend lets a client send (src/util/signals.ts FORWARDABLE_SIGNALS): a host that
 * sent anything else is refused, so no signal outside that list (SIGSYS, SIGSEGV, real-time ones
 * a runtime uses internally) reaches the program through this path. The target, as on the host
 * (src/sandbox/signal-program.ts): every direct child of the stage's PID 1 (the helper), i.e. the
 * program and any orphan it adopted; never the helper itself, whose status report must survive.
 * The tree: agent -> STAGE (waits) -> the helper (PID 1 of the stage's namespace) -> program. */
void forward_signal(pid_t stage, const char *buf, uint32_t len) {
  static const int allowed[] = {SIGINT, SIGTERM, SIGKILL, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGSTOP, SIGCONT, SIGALRM, SIGWINCH};
  char *end;
  long sig = strtol(buf, &end, 10);
  if (len == 0 || len > 3 || end != buf + len) die("bad signal frame");
  int ok = 0;
  for (size_t k = 0; k < sizeof allowed / sizeof allowed[0]; k++) ok |= allowed[k] == sig;
  if (!ok) die("signal %ld is not one a client may send", sig);
  pid_t helper[4], program[64];
  if (stage <= 0 || children_of(stage, helper, 4) < 1) return; /* not started or already ended */
  int n = children_of(helper[0], program, 64);
  /* ESRCH: it ended meanwhile; nothing else can fail for root in the guest's root namespace. */
  for (int k = 0; k < n; k++)
    if (kill(program[k], (int)sig) < 0 && errno != ESRCH) die("kill %d: %s", (int)program[k], strerror(errno));
}
