/*
 * spawner-child.c: one outer helper started by the spawner (spawner.c), exactly as Node's
 * child_process.spawn started it before: AF_UNIX stream socketpairs as its stdio and pipes (libuv
 * uses socketpairs for 'pipe' too), an empty environment, default signal dispositions and an
 * empty signal mask, no other fd of the spawner. The exec's outcome comes back through a
 * close-on-exec pipe, so a failed exec is reported as an error (like spawn's 'error' event), not
 * as an exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "modes.h"
#include "spawner.h"

/* Closes every fd from FIRST to LAST: close_range where the kernel has it (5.9+), else one by
 * one up to the fd limit. */
static void close_between(unsigned first, unsigned last) {
  if (first > last) return;
#ifdef SYS_close_range
  if (syscall(SYS_close_range, first, last, 0) == 0) return;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 1 << 20) max = 1 << 20;
  for (long fd = first; fd < max && fd <= (long)last; fd++) close((int)fd);
}

/* In the child: places the child ends at 0..nfds-1, closes the rest, resets signals, execs (or,
 * with IN_PROCESS, runs the outer mode itself: see spawn_outer). Any failure is written to ERR_FD
 * as an errno and the child exits 127 (it never returns). */
static void child_exec(const char *helper, char **argv, int nargs, int in_process, int nfds, const int child_fds[], int err_fd) {
  int e = 0;
  int high[SPAWNER_MAX_FDS];
  /* First above every target, so that dup2 below never overwrites an end not yet placed. */
  for (int i = 0; i < nfds && e == 0; i++)
    if ((high[i] = fcntl(child_fds[i], F_DUPFD_CLOEXEC, SPAWNER_MAX_FDS + 8)) < 0) e = errno;
  if (e == 0 && err_fd < SPAWNER_MAX_FDS + 8) {
    int moved = fcntl(err_fd, F_DUPFD_CLOEXEC, SPAWNER_MAX_FDS + 8);
    if (moved < 0) e = errno;
    else err_fd = moved;
  }
  /* dup2 clears close-on-exec on the target: exactly fds 0..nfds-1 reach the helper. */
  for (int i = 0; i < nfds && e == 0; i++)
    if (dup2(high[i], i) < 0) e = errno;
  /* No fd of the spawner (its channel to the service, other children's sockets) may reach a
   * child: a sandbox holding another execution's stdio could read or forge its output. */
  if (e == 0) {
    close_between((unsigned)nfds, (unsigned)err_fd - 1);
    close_between((unsigned)err_fd + 1, ~0U);
  }
  /* Signals as Node's spawn leaves them: default dispositions, nothing blocked (the spawner
   * blocks SIGCHLD for its signalfd and ignores SIGPIPE; the helper must not inherit either). */
  sigset_t none;
  sigemptyset(&none);
  for (int sig = 1; sig < NSIG && e == 0; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  if (e == 0 && sigprocmask(SIG_SETMASK, &none, NULL) != 0) e = errno;
  if (e == 0 && in_process) {
    /* The outer mode in this process, as the exec'd helper would run it: the same argv, fds,
     * signals and empty environment (its exec of bubblewrap passes this process's environ). The
     * spawner's memory it inherits is the spawner's own (root's, like the outer helper's) and
     * nothing of it outlives the exec of bubblewrap, which replaces the whole address space. The
     * errno pipe closes here: "started", as the exec'd helper's close-on-exec end said before
     * (a later failure of the outer mode is its status line and exit code 127, as always). */
    if (clearenv() != 0) e = ENOMEM;
    else {
      close(err_fd);
      run_outer(nargs, argv + 2);
    }
  }
  if (e == 0) {
    char *envp[] = {NULL}; /* Node spawned the helper with env: {} */
    execve(helper, argv, envp);
    e = errno;
  }
  if (write(err_fd, &e, sizeof e) < 0) { /* the parent then sees EOF and a wait status of 127 */ }
  _exit(127);
}

/* Reads the exec outcome: 0 when the pipe closed empty (exec succeeded), else the child's errno. */
static int exec_outcome(int err_fd) {
  int e = 0;
  ssize_t n;
  do n = read(err_fd, &e, sizeof e);
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  return n == (ssize_t)sizeof e ? e : 0;
}

pid_t spawn_outer(const char *helper, int in_process, char **args, int nargs, int nfds, int parent_fds[], int *err) {
  int child_fds[SPAWNER_MAX_FDS];
  int made = 0, errpipe[2] = {-1, -1};
  pid_t pid = -1;
  *err = 0;
  char **argv = calloc((size_t)nargs + 3, sizeof *argv);
  if (argv == NULL) { *err = ENOMEM; return -1; }
  /* argv[0] and the mode are the spawner's own: a message can never choose what is exec'd. */
  argv[0] = (char *)helper;
  argv[1] = "outer";
  for (int i = 0; i < nargs; i++) argv[i + 2] = args[i];
  for (; made < nfds; made++) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) { *err = errno; goto out; }
    parent_fds[made] = pair[0];
    child_fds[made] = pair[1];
    /* The service's end non-blocking, as libuv makes its own end of a 'pipe' (the child's end
     * stays blocking). O_NONBLOCK belongs to the open file description, which the fd passed to
     * the service shares, and libuv does not set it on a handle received over IPC: a blocking
     * end made every write of the service a blocking write on its event loop, and a job bigger
     * than the socket buffer (a 2.6 MB file bundle) froze the whole service while the sandbox
     * still waited for the end of its seccomp program (hostile-filesystem.test.ts hung). */
    int flags = fcntl(pair[0], F_GETFL);
    if (flags < 0 || fcntl(pair[0], F_SETFL, flags | O_NONBLOCK) != 0) { *err = errno; made++; goto out; }
  }
  if (pipe2(errpipe, O_CLOEXEC) != 0) { *err = errno; goto out; }
  pid = fork();
  if (pid < 0) { *err = errno; goto out; }
  if (pid == 0) child_exec(helper, argv, nargs, in_process, nfds, child_fds, errpipe[1]);
  close(errpipe[1]);
  errpipe[1] = -1;
  *err = exec_outcome(errpipe[0]);
  /* A failed exec's child has exited 127; it is reaped by the SIGCHLD loop like any other and
   * its exit is not reported (the caller reports the error instead). */
out:
  if (errpipe[0] >= 0) close(errpipe[0]);
  if (errpipe[1] >= 0) close(errpipe[1]);
  for (int i = 0; i < made; i++) close(child_fds[i]);
  if (*err != 0)
    for (int i = 0; i < made; i++) close(parent_fds[i]);
  free(argv);
  return *err != 0 ? -1 : pid;
}
