/*
 * prestart.c: a pre-started language runtime (issue 19). The first job on the bundle pipe may
 * be a pre-start job (JOB_FLAG_PRESTART): PID 1 forks it at once, under every layer a program has
 * (Landlock, rlimits at their highest request values, the cgroup, seccomp, no capabilities, the
 * slot's uid, only fds 0-2 plus the handover pipe at PRESTART_HANDOVER_FD), and the runtime initialises (Python:
 * the interpreter, encodings, site; Node: its bootstrap) and then blocks in a trusted stub
 * reading that fd. The request's job then arrives as a handover job (JOB_FLAG_HANDOVER): only what
 * the request adds (the extra argv, the request's lower rlimits) is handed over, and the runtime
 * goes on to load the program exactly as a cold start would. Each pre-started runtime serves
 * exactly one execution: the sandbox around it is used once and destroyed.
 */
#include "prestart.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* "R <usec>": the program's wall clock and CPU start now (see supervisor.c report_started). */
static void report_handover(const struct cpu_counter *cpu) {
  char line[48];
  int n = cpu->fd >= 0 ? snprintf(line, sizeof line, "R %lld\n", cpu_counter_usec(cpu)) : snprintf(line, sizeof line, "R\n");
  if (status_fd >= 0) write_all(status_fd, line, (size_t)n);
}

/* Writes the argv items, each NUL-terminated. A runtime that died since the liveness check
 * (the request's memory limit, set by the host before the handover) makes the write fail with
 * EPIPE: SIGPIPE is ignored around it, and the death is reported as the program's by the wait
 * that follows (it happened under the request's limits). */
static void write_handover(int fd, char **argv) {
  struct sigaction ignore = {.sa_handler = SIG_IGN}, old;
  if (sigemptyset(&ignore.sa_mask) < 0 || sigaction(SIGPIPE, &ignore, &old) < 0) fail("prestart: sigaction(SIGPIPE): %s", strerror(errno));
  for (char **a = argv; *a != NULL; a++) {
    const char *p = *a;
    size_t len = strlen(p) + 1; /* the NUL too */
    while (len > 0) {
      ssize_t n = write(fd, p, len);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EPIPE) goto done;
      if (n < 0) fail("prestart: writing the handover: %s", strerror(errno));
      p += n;
      len -= (size_t)n;
    }
  }
done:
  if (sigaction(SIGPIPE, &old, NULL) < 0) fail("prestart: sigaction(SIGPIPE) restore: %s", strerror(errno));
}

/* Waits until the runtime's setup in the helper's code is over: its copy of the exec pipe's
 * write end closes at its execve (or its exit). Normally long past when a request arrives. */
static void wait_for_exec(struct prestarted *pre) {
  if (pre->exec_fd < 0) return; /* a zygote's runtime: set up before it said its pid */
  char byte;
  for (;;) {
    ssize_t n = read(pre->exec_fd, &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("prestart: waiting for the runtime's exec: %s", strerror(errno));
    if (n == 0) break;
  }
  if (close(pre->exec_fd) < 0) fail("prestart: close: %s", strerror(errno));
  pre->exec_fd = -1;
}

/* Waits for the stub's ready byte (or end of file: the runtime ended): from then on the runtime
 * has initialised and holds its own copy of its argv. */
static void wait_for_ready(struct prestarted *pre) {
  char byte;
  for (;;) {
    ssize_t n = read(pre->ready_fd, &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("prestart: waiting for the runtime to be ready: %s", strerror(errno));
    break;
  }
  if (close(pre->ready_fd) < 0) fail("prestart: close: %s", strerror(errno));
  pre->ready_fd = -1;
}

/* The [arg_start, arg_end) range of PID's command line (fields 48 and 49 of /proc/PID/stat,
 * counted after the command name, which may hold spaces and parentheses). */
static void cmdline_range(pid_t pid, unsigned long *start, unsigned long *end) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("prestart: open %s: %s", path, strerror(errno));
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) fail("prestart: read %s", path);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (p == NULL) fail("prestart: %s: no command name", path);
  /* After ") " comes field 3; arg_start is field 48. */
  int field = 2;
  for (char *tok = strtok(p + 1, " "); tok != NULL; tok = strtok(NULL, " ")) {
    field++;
    if (field == 48) *start = strtoul(tok, NULL, 10);
    if (field == 49) { *end = strtoul(tok, NULL, 10); return; }
  }
  fail("prestart: %s: no argument range", path);
}

/* Writes ARGV (NUL-separated, then NUL-padded) over the runtime's command line area, so that
 * /proc/PID/cmdline shows the program's argv as a cold start's would (followed by NUL padding:
 * the area is the pre-start argv's, which the host sized to hold it). The runtime copied its
 * argv at startup (it is ready), so it never reads this memory again. PID 1 is its parent and
 * has its uid; /proc/PID/mem needs nothing more. */
static void rewrite_cmdline(pid_t pid, char **argv) {
  unsigned long start = 0, end = 0;
  cmdline_range(pid, &start, &end);
  /* No argument range: the runtime ended since hand_over's check (an exited process has released
   * its memory; its stat shows 0 0). Nothing to rewrite: its end is reported by the wait, as
   * when the write below finds it dead. (Seen in CI: refused as "does not fit (0 bytes)".) */
  if (start == 0 && end == 0) return;
  size_t room = end > start ? end - start : 0, used = 0;
  char *buf = calloc(room + 1, 1);
  if (buf == NULL) fail("prestart: out of memory");
  for (char **a = argv; *a != NULL; a++) {
    size_t len = strlen(*a) + 1;
    if (used + len > room) fail("prestart: the program's argv does not fit the runtime's command line (%zu bytes)", room);
    memcpy(buf + used, *a, len);
    used += len;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : pwrite(fd, buf, room, (off_t)start);
  int err = errno;
  if (fd >= 0) close(fd);
  free(buf);
  /* A runtime that died meanwhile has no memory left to write: its end is reported by the wait. */
  if (n == (ssize_t)room) return;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  /* WNOWAIT: a dead runtime is left for the wait that reports it. */
  if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid) return;
  fail("prestart: writing the command line of the runtime: %s", n < 0 ? strerror(err) : "short write");
}

pid_t hand_over(struct prestarted *pre, const struct job *job, const struct cpu_counter *cpu) {
  wait_for_exec(pre);
  wait_for_ready(pre);
  pid_t gone = waitpid(pre->pid, &pre->status, WNOHANG | __WALL);
  if (gone < 0) fail("prestart: waitpid: %s", strerror(errno));
  /* A runtime that ended before its handover: it waited under cgroup limits no higher than the
   * request's (the host hands over only then: src/sandbox/prestart.ts) and under the same
   * layers, so it ended under limits the program has too (e.g. a memory limit too small for
   * the interpreter: the cgroup's OOM kill, which the host sees). Reported as the program's
   * end, as a cold start under those limits would end; nothing is handed over. */
  if (gone == pre->pid) {
    pre->reaped = 1;
    report_handover(cpu);
    close(pre->handover_fd);
    pre->handover_fd = -1;
    return pre->pid;
  }
  /* The request's rlimits, lowered before any user code runs (a process may always lower its
   * limits; PID 1 shares the runtime's uid, so prlimit may lower them for it). The pre-start
   * values are the highest a request can have (the host hands over only when each is lower or
   * equal), so a raise is never needed and a refusal is a failure, not a fallback. */
  rewrite_cmdline(pre->pid, job->argv);
  for (int r = 0; r < job->nrlimits; r++)
    if (prlimit(pre->pid, job->rlimits[r].resource, &job->rlimits[r].value, NULL) < 0)
      fail("prestart: prlimit(%d) on the pre-started runtime: %s", job->rlimits[r].resource, strerror(errno));
  report_handover(cpu);
  /* The runtime has the interpreter and the entry already: only the rest is handed over. */
  write_handover(pre->handover_fd, job->argv + 2);
  if (close(pre->handover_fd) < 0) fail("prestart: closing the handover pipe: %s", strerror(errno));
  pre->handover_fd = -1;
  return pre->pid;
}

void discard_prestarted(struct prestarted *pre) {
  if (kill(pre->pid, SIGKILL) < 0 && errno != ESRCH) fail("prestart: kill the unused runtime: %s", strerror(errno));
  for (;;) {
    int st;
    pid_t got = waitpid(pre->pid, &st, __WALL);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && errno != ECHILD) fail("prestart: reap the unused runtime: %s", strerror(errno));
    break;
  }
  if (pre->handover_fd >= 0) close(pre->handover_fd);
  if (pre->exec_fd >= 0) close(pre->exec_fd);
  if (pre->ready_fd >= 0) close(pre->ready_fd);
  pre->ready_fd = -1;
  pre->pid = -1;
  pre->handover_fd = -1;
  pre->exec_fd = -1;
}
