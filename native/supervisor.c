/*
 * supervisor.c: PID 1 of the sandbox. Forks the program (in the child: rlimits, Landlock, every
 * fd above 2 close-on-exec, "R", exec), reaps orphans until the program exits, emits a compile
 * stage's artifact, and reports the workspace's free space and the program's exact status
 * ("W <bytes> <inodes>", "A<message>", "X <code> <signal>").
 */
#include "supervisor.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "missing-defs.h"
#include "util.h"
#include "workspace.h"

/* The child: everything between fork and exec that Node cannot do. Never returns. */
static void exec_program(const struct job *job, const struct landlock_policy *landlock, const sigset_t *mask)
    __attribute__((noreturn));
static void exec_program(const struct job *job, const struct landlock_policy *landlock, const sigset_t *mask) {
  if (sigprocmask(SIG_SETMASK, mask, NULL) < 0) fail("signals: restore the mask: %s", strerror(errno));
  /* Before Landlock, which then denies writing it back (see workspace.c). */
  prefer_program_for_oom();
  for (int r = 0; r < job->nrlimits; r++)
    if (setrlimit(job->rlimits[r].resource, &job->rlimits[r].value) < 0) fail("rlimit: %s", strerror(errno));
  if (landlock->enabled) apply_landlock(landlock);
  /* Only fds 0-2 reach the program: everything else (bwrap's, the bundle, inherited) closes.
   * No fallback: a partial loop could miss an fd above its bound (close_range needs 5.11, which
   * every kernel with Landlock has). */
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    fail("fds: close_range(CLOSE_RANGE_CLOEXEC): %s (needs Linux 5.11 or newer)", strerror(errno));
  if (status_fd >= 0) write_all(status_fd, "R\n", 2);
  execve(job->argv[0], job->argv, job->env);
  fail("cannot execute %s: %s", job->argv[0], strerror(errno));
}

/* Forks the program with every signal blocked around the fork; returns its pid. */
static pid_t fork_program(const struct job *job, const struct landlock_policy *landlock) {
  sigset_t all, old;
  sigfillset(&all);
  if (sigprocmask(SIG_BLOCK, &all, &old) < 0) fail("signals: block: %s", strerror(errno));
  pid_t child = fork();
  if (child < 0) fail("fork: %s", strerror(errno));
  if (child == 0) exec_program(job, landlock, &old);
  return child;
}

/* Reaps every process until CHILD exits; returns its wait status. */
static int wait_for_program(pid_t child) {
  for (;;) {
    int st = 0;
    pid_t got = waitpid(-1, &st, __WALL);
    if (got < 0) {
      if (errno == EINTR) continue;
      fail("wait: %s", strerror(errno));
    }
    if (WIFSTOPPED(st)) {
      /* A ptrace-stop, not an exit: a process made PID 1 its tracer (PTRACE_TRACEME, possible
       * only with seccomp relaxed). Detach and let it go on with its signal. A failure means
       * the tracee is already gone (ESRCH): there is nothing left to release. */
      (void)ptrace(PTRACE_DETACH, got, NULL, (void *)(long)WSTOPSIG(st));
      continue;
    }
    if (got == child) return st; /* otherwise an orphan re-parented to us: reaped, keep waiting */
  }
}

/* Kills every other process of the sandbox (PID 1 of the namespace may) and reaps them, so the
 * workspace cannot change while it is being read. Returns -1 with the reason in ERROR when they
 * could not be killed (then no artifact is emitted). */
static int kill_the_rest(char *error, size_t error_len) {
  if (kill(-1, SIGKILL) < 0 && errno != ESRCH) {
    snprintf(error, error_len, "cannot stop the sandbox's other processes: %s", strerror(errno));
    return -1;
  }
  for (;;) {
    int st;
    pid_t got = waitpid(-1, &st, __WALL);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break; /* ECHILD: nothing left */
  }
  return 0;
}

/* Reports the workspace's free bytes and inodes (-1: no inode cap) right after the program ended ("W <bytes>
 * <inodes>"), so the host can say that a failed program met a full workspace (ENOSPC) without
 * ever looking into it. Only a fact for the report: a failing statfs reports nothing. */
static void report_workspace(const char *workdir) {
  struct statfs sf;
  if (status_fd < 0 || statfs(workdir, &sf) < 0) return;
  char line[96];
  /* A tmpfs without an inode cap reports 0 inodes in all: -1 then says "no cap", not "full". */
  long long inodes = sf.f_files == 0 ? -1LL : (long long)sf.f_ffree;
  int n = snprintf(line, sizeof line, "W %llu %lld\n", (unsigned long long)sf.f_bavail * (unsigned long long)sf.f_bsize, inodes);
  if (n > 0 && (size_t)n < sizeof line) write_all(status_fd, line, (size_t)n);
}

/* Artifacts only from a successful compile; the pipe is closed either way. */
static void emit_after_exit(const struct emit_plan *emit, int st) {
  if (emit->npaths > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
    char error[600];
    if (kill_the_rest(error, sizeof error) < 0 || emit_artifacts(emit, error, sizeof error) < 0) {
      char line[700];
      int n = snprintf(line, sizeof line, "A%s\n", error);
      if (status_fd >= 0 && n > 0) write_all(status_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
  }
  close(emit->fd);
}

void supervise(const struct job *job, const struct landlock_policy *landlock, const struct emit_plan *emit) {
  /* This process is PID 1 of the sandbox's PID namespace (bwrap --as-pid-1). It forks the
   * program, reaps orphans, and reports the program's exact exit status; when it exits, the
   * kernel kills every process left in the namespace, so nothing the program started survives.
   * The supervisor is not dumpable, so the program (same uid) cannot open /proc/1/mem or fds.
   * Set before the fork, so that the program never runs beside a dumpable PID 1; the child's
   * copy of the flag is reset by its execve. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) fail("supervisor: prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
  pid_t child = fork_program(job, landlock);
  for (int fd = 3; fd < 1024; fd++)
    if (fd != status_fd && fd != emit->fd) close(fd);
  close(0);
  int st = wait_for_program(child);
  report_workspace(emit->workdir);
  if (emit->fd >= 0) emit_after_exit(emit, st);
  char line[64];
  int n = WIFSIGNALED(st) ? snprintf(line, sizeof line, "X %d %d\n", -1, WTERMSIG(st))
                          : snprintf(line, sizeof line, "X %d %d\n", WEXITSTATUS(st), 0);
  if (status_fd >= 0) write_all(status_fd, line, (size_t)n);
  _exit(WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st));
}
