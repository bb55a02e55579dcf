/*
 * supervisor.c: PID 1 of the sandbox. Forks the program (in the child: rlimits, Landlock, every
 * fd above 2 close-on-exec, the cgroup's CPU counter, "R <usec>", exec), reaps orphans until the
 * program exits, reads the CPU counter again, emits a compile stage's artifact or a run stage's
 * output files (outputs.c), and reports the
 * workspace's free space and the program's exact status ("W <bytes> <inodes>", "A<message>",
 * "X <code> <signal> <usec>").
 * A program that cannot be started (its execve fails) is reported as "F <errno> <message>", apart
 * from a sandbox that could not be set up ("E<message>"): the first is about the program (a file
 * that is not executable, not a program, or whose interpreter is missing), the second is cylo's.
 */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
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

/* "R" (without the CPU counter when there is none), written by the program's process as its
 * last step before execve: everything the counter holds at that moment is setup, not program. */
static void report_started(const struct cpu_counter *cpu) {
  char line[48];
  int n = cpu->fd >= 0 ? snprintf(line, sizeof line, "R %lld\n", cpu_counter_usec(cpu)) : snprintf(line, sizeof line, "R\n");
  if (status_fd >= 0) write_all(status_fd, line, (size_t)n);
}

/* The child, after its execve failed with ERR: "F <errno> <message>" on the status fd, then exit
 * 127 (the shell's code for a command that cannot be run). Every setup step is done by now, so
 * this is the program's fault, never the sandbox's: the host reports it as the program's. */
static void report_exec_failure(const char *path, int err) __attribute__((noreturn));
static void report_exec_failure(const char *path, int err) {
  char line[1100];
  int n = snprintf(line, sizeof line, "F %d cannot execute %s: %s", err, path, strerror(err));
  one_line(line); /* argv[0] comes from the job: no newline of its own reaches the status fd */
  if (n < 0) n = 0;
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2; /* a path near PATH_MAX: cut, newline kept */
  line[n++] = '\n';
  /* A failed write leaves the host with exit 127 and no "F": it then reports a missing status,
   * never a wrong one. */
  if (status_fd >= 0 && n > 0 && write(status_fd, line, (size_t)n) < 0) { /* nothing more to do */ }
  _exit(127);
}

/* The child: everything between fork and exec that Node cannot do. Never returns. */
static void exec_program(const struct job *job, const struct landlock_policy *landlock, const struct cpu_counter *cpu, const sigset_t *mask,
                         const int *prestart_fds) __attribute__((noreturn));
static void exec_program(const struct job *job, const struct landlock_policy *landlock, const struct cpu_counter *cpu, const sigset_t *mask,
                         const int *prestart_fds) {
  if (sigprocmask(SIG_SETMASK, mask, NULL) < 0) fail("signals: restore the mask: %s", strerror(errno));
  /* Before Landlock, which then denies writing it back (see workspace.c). */
  prefer_program_for_oom();
  /* Numbered before the rlimits: a nofile limit at or below the number would refuse the dup2. */
  if (prestart_fds != NULL && (dup2(prestart_fds[0], PRESTART_HANDOVER_FD) < 0 || dup2(prestart_fds[1], PRESTART_READY_FD) < 0))
    fail("prestart: handover fds: %s", strerror(errno));
  for (int r = 0; r < job->nrlimits; r++)
    if (setrlimit(job->rlimits[r].resource, &job->rlimits[r].value) < 0)
      fail("rlimit %d = %llu: %s", job->rlimits[r].resource, (unsigned long long)job->rlimits[r].value.rlim_max, strerror(errno));
  if (landlock->enabled) apply_landlock(landlock);
  /* redirectStderrToStdout: the program's fd 2 becomes the same pipe as its fd 1, so the host
   * reads one stream in the exact order of the writes (two pipes cannot keep that order). It
   * gives the program nothing new: both ends are its own output pipes to the host, capped
   * there by the output limit. Done in the child only: the supervisor's own fd 2 stays the
   * stderr pipe, and its failures go to the status fd. */
  if (job->stderr_to_stdout && dup2(STDOUT_FILENO, STDERR_FILENO) < 0)
    fail("fds: dup2(1, 2) for stderr into stdout: %s", strerror(errno));
  /* Only fds 0-2 reach the program: everything else (bwrap's, the bundle, inherited) closes.
   * No fallback: a partial loop could miss an fd above its bound (close_range needs 5.11, which
   * every kernel with Landlock has). */
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    fail("fds: close_range(CLOSE_RANGE_CLOEXEC): %s (needs Linux 5.11 or newer)", strerror(errno));
  /* A pre-started runtime keeps one more fd: the read end of its handover pipe, at a fixed
   * number, which its trusted stub closes before any user code runs. Kept open across the exec
   * (the close-on-exec flag, set on every fd above 2 just before, is cleared on this one). */
  if (prestart_fds != NULL && (fcntl(PRESTART_HANDOVER_FD, F_SETFD, 0) < 0 || fcntl(PRESTART_READY_FD, F_SETFD, 0) < 0))
    fail("prestart: handover fds: %s", strerror(errno));
  /* The counter fd is close-on-exec like every fd above 2: the program never holds it. A
   * pre-started runtime is not the program yet: "R" comes at its handover (prestart.c). */
  if (prestart_fds == NULL) report_started(cpu);
  execve(job->argv[0], job->argv, job->env);
  report_exec_failure(job->argv[0], errno);
}

static const sigset_t *block_signals(void);

/* Forks the program with every signal blocked around the fork; returns its pid. PRESTART_FDS:
 * a pre-started runtime's handover read end and ready write end, or NULL for a cold start. */
static pid_t fork_with(const struct job *job, const struct landlock_policy *landlock, const struct cpu_counter *cpu, const int *prestart_fds) {
  /* The supervisor is not dumpable, so the program (same uid) cannot open /proc/1/mem or fds.
   * Set before the fork, so that the program never runs beside a dumpable PID 1; the child's
   * copy of the flag is reset by its execve. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) fail("supervisor: prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
  pid_t child = fork();
  if (child < 0) fail("fork: %s", strerror(errno));
  if (child == 0) exec_program(job, landlock, cpu, block_signals(), prestart_fds);
  return child;
}

/* PID 1 keeps every signal blocked from its first child on; returns the mask it had before,
 * the one each child restores (saved once: a second fork, after a discarded pre-started
 * runtime, must not hand the program the all-blocked mask). */
static const sigset_t *block_signals(void) {
  static sigset_t before;
  static int saved;
  sigset_t all;
  sigfillset(&all);
  if (sigprocmask(SIG_BLOCK, &all, saved ? NULL : &before) < 0) fail("signals: block: %s", strerror(errno));
  saved = 1;
  return &before;
}

/* Moves FD to TO (closing FD). */
static void move_fd(int fd, int to) {
  if (dup2(fd, to) < 0 || close(fd) < 0) fail("prestart: fd %d: %s", to, strerror(errno));
}

/* Zygote mode (JOB_FLAG_ZYGOTE): the runtime is not forked here but injected by the host's
 * zygote (native/zygote/zygote.c), which takes the program's stdio and the runtime's ends of
 * the pre-start pipes from this process (pidfd_getfd, as root) and forks the runtime into this
 * sandbox's namespaces under every layer; this process then adopts it as its child. "Z" tells
 * the host the pipes are in place; the runtime's "P <pid>" (or "E<message>") says it exists. */
static void adopt_from_zygote(struct prestarted *pre) {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) fail("supervisor: prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
  (void)block_signals();
  int fds[2], ready_fds[2], pid_fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0 || pipe2(ready_fds, O_CLOEXEC) < 0 || pipe2(pid_fds, O_CLOEXEC) < 0) fail("prestart: pipe: %s", strerror(errno));
  /* The runtime's ends, at the numbers the zygote takes them from and gives them (its own). */
  move_fd(fds[0], PRESTART_HANDOVER_FD);
  move_fd(ready_fds[1], PRESTART_READY_FD);
  move_fd(pid_fds[1], ZYGOTE_PID_FD);
  if (status_fd >= 0) write_all(status_fd, "Z\n", 2);
  char line[1100];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(pid_fds[0], line + len, sizeof line - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("prestart: waiting for the zygote's runtime: %s", strerror(errno));
    if (n == 0) break;
    len += (size_t)n;
    if (memchr(line, '\n', len) != NULL || len == sizeof line - 1) break;
  }
  line[len] = '\0';
  char *nl = strchr(line, '\n');
  if (nl == NULL) fail("prestart: the zygote's runtime did not arrive");
  *nl = '\0';
  if (line[0] == 'E') fail("%s", line + 1);
  if (line[0] != 'P' || line[1] != ' ') fail("prestart: the zygote's runtime said something else");
  pid_t pid = (pid_t)parse_num(line + 2, "the zygote's runtime pid");
  /* Only a child of this process (a process C2 of the zygote forked, re-parented here) is
   * adopted: waitid on anything else fails with ECHILD. */
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (pid <= 1 || waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) fail("prestart: process %d is not this sandbox's runtime", (int)pid);
  if (close(PRESTART_HANDOVER_FD) < 0 || close(PRESTART_READY_FD) < 0 || close(ZYGOTE_PID_FD) < 0 || close(pid_fds[0]) < 0) fail("prestart: close: %s", strerror(errno));
  pre->pid = pid;
  pre->handover_fd = fds[1];
  pre->ready_fd = ready_fds[0];
  pre->exec_fd = -1; /* its setup was over before it wrote its pid */
  /* "P": the runtime is set up and adopted; the host hands a request to this sandbox only now
   * (review finding Z5: the zygote's "ok" comes before the runtime's own setup). */
  if (status_fd >= 0) write_all(status_fd, "P\n", 2);
}

void prestart_runtime(const struct job *job, const struct landlock_policy *landlock, const struct cpu_counter *cpu, struct prestarted *pre) {
  if (job->zygote) {
    adopt_from_zygote(pre);
    return;
  }
  int fds[2], exec_fds[2], ready_fds[2];
  /* Close-on-exec both ends: the runtime gets the handover's read end and the ready pipe's
   * write end only at their fixed numbers (exec_program). */
  if (pipe2(fds, O_CLOEXEC) < 0 || pipe2(ready_fds, O_CLOEXEC) < 0) fail("prestart: pipe: %s", strerror(errno));
  /* The runtime's copy of this write end closes at its execve: PID 1 reads end of file on
   * exec_fds[0] once the child's setup (its own setrlimit calls included) is over, so that the
   * handover's prlimit can never race them (a lowered hard limit would make the child's raise
   * to the pre-start value fail). */
  if (pipe2(exec_fds, O_CLOEXEC) < 0) fail("prestart: pipe: %s", strerror(errno));
  int child_fds[2] = {fds[0], ready_fds[1]};
  pre->pid = fork_with(job, landlock, cpu, child_fds);
  if (close(fds[0]) < 0 || close(exec_fds[1]) < 0 || close(ready_fds[1]) < 0) fail("prestart: close: %s", strerror(errno));
  pre->handover_fd = fds[1];
  pre->exec_fd = exec_fds[0];
  pre->ready_fd = ready_fds[0];
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

/* Artifacts only from a successful compile; a run stage's output files whatever its status (a
 * program that crashed, or that the host stopped at a limit by killing it, may have written
 * them). Always after every other process is dead and reaped: a background process the program
 * left could otherwise swap a file for a link, or keep writing, while PID 1 reads. The pipe is
 * closed either way. */
static void emit_after_exit(const struct emit_plan *emit, const struct output_plan *outputs, int st) {
  int artifact = emit->npaths > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  if (artifact || outputs->npatterns > 0) {
    char error[600];
    if (kill_the_rest(error, sizeof error) < 0 ||
        (artifact ? emit_artifacts(emit, error, sizeof error) : emit_outputs(emit->fd, emit->workdir, outputs, error, sizeof error)) < 0) {
      char line[700];
      one_line(error); /* paths the program made may hold newlines: one line, always */
      int n = snprintf(line, sizeof line, "A%s\n", error);
      if (status_fd >= 0 && n > 0) write_all(status_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
  }
  close(emit->fd);
}

/* Closes every fd from 3 up, except the three given (any of them -1: none): close_range over
 * the gaps. It was one close() per fd up to 1024, each through the seccomp filter: about 0.5 ms
 * of CPU per execution on a slow VM. close_range is in the policy's allow list (fds_cloexec). */
static void close_fds_except(int a, int b, int c) {
  int keep[3] = {a, b, c};
  /* sorted, so the gaps run upwards */
  for (int i = 0; i < 3; i++)
    for (int j = i + 1; j < 3; j++)
      if (keep[j] < keep[i]) { int t = keep[i]; keep[i] = keep[j]; keep[j] = t; }
  unsigned from = 3;
  for (int i = 0; i < 3; i++) {
    if (keep[i] < (int)from) continue;
    if ((unsigned)keep[i] > from && syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0) < 0)
      fail("fds: close_range: %s", strerror(errno));
    from = (unsigned)keep[i] + 1;
  }
  if (syscall(SYS_close_range, from, ~0U, 0) < 0) fail("fds: close_range: %s", strerror(errno));
}

void supervise(const struct job *job, const struct landlock_policy *landlock, const struct emit_plan *emit, const struct output_plan *outputs,
               const struct cpu_counter *cpu, struct prestarted *pre) {
  /* This process is PID 1 of the sandbox's PID namespace (bwrap --as-pid-1). It forks the
   * program (or hands the request to the runtime pre-started for it), reaps orphans, and
   * reports the program's exact exit status; when it exits, the kernel kills every process left
   * in the namespace, so nothing the program started survives. */
  /* A counter that cannot be read is refused here, before the program exists (not half-way,
   * with the program's CPU figure and CPU limit silently wrong). */
  if (cpu->fd >= 0) (void)cpu_counter_usec(cpu);
  if (job->handover && pre->pid < 0) fail("prestart: a handover job, but no runtime was pre-started");
  /* A pre-started runtime the request does not use is gone before the program starts. */
  if (!job->handover && pre->pid >= 0) discard_prestarted(pre);
  pid_t child = job->handover ? hand_over(pre, job, cpu) : fork_with(job, landlock, cpu, NULL);
  close_fds_except(status_fd, emit->fd, cpu->fd);
  close(0);
  int st = pre->reaped ? pre->status : wait_for_program(child);
  /* The program's CPU ends here: emitting the artifact is cylo's work, not the program's. */
  long long cpu_end = cpu->fd >= 0 ? cpu_counter_usec(cpu) : -1;
  report_workspace(emit->workdir);
  if (emit->fd >= 0) emit_after_exit(emit, outputs, st);
  char line[96];
  int code = WIFSIGNALED(st) ? -1 : WEXITSTATUS(st), sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
  int n = cpu_end >= 0 ? snprintf(line, sizeof line, "X %d %d %lld\n", code, sig, cpu_end) : snprintf(line, sizeof line, "X %d %d\n", code, sig);
  if (status_fd >= 0) write_all(status_fd, line, (size_t)n);
  _exit(WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st));
}
