/*
 * cylo security battery: what public sandbox and container escapes since 2022 used, as probes.
 * Compiled once per test run and run ONLY inside cylo's sandbox, after the pre-flight passed:
 *     main escapes HOSTFILE [cylomark...]
 * HOSTFILE is a read-only host file visible in the sandbox (a runtime's binary); the host
 * checks its digest before and after. Each probe prints "name=RESULT": "ok", the errno name, or
 * a word for what was seen. Every call is harmless: no probe could change a machine that had no
 * sandbox at all except through the very kernel bug it looks for (patched on supported kernels).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef AF_ALG
#define AF_ALG 38
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static void say(const char *name, const char *result) {
  printf("%s=%s\n", name, result);
  fflush(stdout);
}

static void report(const char *name, long rc) { say(name, rc < 0 ? strerrorname_np(errno) : "ok"); }

/* The first 16 bytes of PATH, for "is the file unchanged". */
static int head16(const char *path, char out[16]) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = pread(fd, out, 16, 0);
  close(fd);
  return n == 16 ? 0 : -1;
}

/* /proc/PID/mem: the supervisor's memory (PID 1, not dumpable), then the CVE-2016-5195-style
 * forced write through /proc/self/mem into a private read-only mapping of a host file: the write
 * lands in this process's copy, never in the file. */
static void probe_proc_mem(const char *hostfile) {
  report("proc_1_mem_rw", open("/proc/1/mem", O_RDWR | O_CLOEXEC));
  report("proc_1_mem_ro", open("/proc/1/mem", O_RDONLY | O_CLOEXEC));
  char before[16], after[16];
  int fd = open(hostfile, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || head16(hostfile, before) < 0) {
    say("hostfile", strerrorname_np(errno));
    return;
  }
  report("hostfile_open_rw", open(hostfile, O_RDWR | O_CLOEXEC));
  void *map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) {
    say("hostfile_mmap", strerrorname_np(errno));
    return;
  }
  int mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
  report("proc_self_mem_open", mem);
  if (mem >= 0) report("proc_self_mem_write", pwrite(mem, "CYLOCYLO", 8, (off_t)(uintptr_t)map));
  say("proc_self_mem_mapping", memcmp(map, "CYLOCYLO", 8) == 0 ? "changed" : "unchanged");
  say("proc_self_mem_file", head16(hostfile, after) == 0 && memcmp(before, after, 16) == 0 ? "unchanged" : "changed");
  close(fd);
}

/* Dirty Pipe (CVE-2022-0847): a pipe buffer left mergeable, then spliced from a read-only file,
 * then written to: on an unpatched kernel the write lands in the file's page cache. */
static void probe_dirty_pipe(const char *hostfile) {
  char before[16], after[16], buf[4096];
  int p[2];
  if (head16(hostfile, before) < 0 || pipe(p) < 0) return;
  int size = fcntl(p[1], F_GETPIPE_SZ);
  for (int k = 0; k < size / (int)sizeof buf; k++) (void)!write(p[1], memset(buf, 'p', sizeof buf), sizeof buf);
  for (int k = 0; k < size / (int)sizeof buf; k++) (void)!read(p[0], buf, sizeof buf);
  int fd = open(hostfile, O_RDONLY | O_CLOEXEC);
  loff_t off = 0;
  report("dirty_pipe_splice", splice(fd, &off, p[1], NULL, 1, 0));
  report("dirty_pipe_write", write(p[1], "CYLO", 4));
  say("dirty_pipe_file", head16(hostfile, after) == 0 && memcmp(before, after, 16) == 0 ? "unchanged" : "changed");
  close(fd);
  close(p[0]);
  close(p[1]);
}

/* Signals to the supervisor (PID 1), by kill and by pidfd, then: is it still running? */
static void probe_signals(void) {
  const int sigs[] = {SIGKILL, SIGTERM, SIGSEGV, SIGSTOP, SIGINT, SIGHUP};
  const char *names[] = {"kill_pid1_SIGKILL", "kill_pid1_SIGTERM", "kill_pid1_SIGSEGV", "kill_pid1_SIGSTOP", "kill_pid1_SIGINT", "kill_pid1_SIGHUP"};
  for (unsigned k = 0; k < sizeof sigs / sizeof sigs[0]; k++) report(names[k], kill(1, sigs[k]));
  long pidfd = syscall(SYS_pidfd_open, 1, 0);
  report("pidfd_open_pid1", pidfd);
  if (pidfd >= 0) report("pidfd_send_signal_pid1", syscall(SYS_pidfd_send_signal, (int)pidfd, SIGKILL, NULL, 0));
  char stat[256] = {0};
  int fd = open("/proc/1/stat", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, stat, sizeof stat - 1) : -1;
  const char *close_paren = n > 0 ? strrchr(stat, ')') : NULL;
  char state[2] = {close_paren != NULL && close_paren[1] == ' ' ? close_paren[2] : '?', 0};
  /* Running, sleeping or in a disk wait: alive. Stopped (T, t), a zombie or dead: the letter. */
  say("pid1_state", strchr("RSD", state[0]) != NULL ? "alive" : state);
  report("process_vm_writev_pid1", process_vm_writev(1, &(struct iovec){stat, 1}, 1, &(struct iovec){stat, 1}, 1, 0));
}

/* A new session with a terminal of its own (setsid, a pty): TIOCSTI still refused, so no
 * keystroke can be pushed into any terminal (CVE-2017-5226 in bubblewrap's own history). */
static void probe_terminal(void) {
  pid_t child = fork();
  if (child != 0) {
    waitpid(child, NULL, 0);
    return;
  }
  report("setsid", setsid());
  report("dev_tty", open("/dev/tty", O_RDWR | O_CLOEXEC));
  report("tiocsti_stdin_after_setsid", ioctl(0, TIOCSTI, "x"));
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  report("ptmx", master);
  if (master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0) {
    int slave = open(ptsname(master), O_RDWR | O_CLOEXEC);
    report("pty_slave", slave);
    if (slave >= 0) {
      report("tiocsctty", ioctl(slave, TIOCSCTTY, 0));
      report("tiocsti_own_pty", ioctl(slave, TIOCSTI, "x"));
    }
  }
  fflush(stdout);
  _exit(0);
}

/* AF_ALG (kernel crypto sockets, CVE-2021-41073 style bugs), hard links and core_pattern /
 * release_agent (CVE-2022-0492), /dev/userfaultfd (the unprivileged way around the syscall). */
static void probe_misc(const char *hostfile) {
  report("af_alg", socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  report("hardlink_hostfile", link(hostfile, "/work/hardlink"));
  int pathfd = open(hostfile, O_PATH | O_CLOEXEC);
  report("hardlink_empty_path", pathfd < 0 ? -1 : linkat(pathfd, "", AT_FDCWD, "/work/hardlink2", AT_EMPTY_PATH));
  report("core_pattern", open("/proc/sys/kernel/core_pattern", O_WRONLY | O_CLOEXEC));
  report("cgroup_mkdir", mkdir("/sys/fs/cgroup/cylo-escape", 0755));
  report("release_agent", open("/sys/fs/cgroup/release_agent", O_WRONLY | O_CLOEXEC));
  report("dev_userfaultfd", open("/dev/userfaultfd", O_RDWR | O_CLOEXEC));
}

int main(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[1], "escapes") != 0) {
    if (argc >= 2 && strcmp(argv[1], "hello") == 0) {
      say("hello", "ok");
      return 0;
    }
    fprintf(stderr, "usage: main escapes HOSTFILE\n");
    return 2;
  }
  const char *hostfile = argv[2];
  probe_proc_mem(hostfile);
  probe_dirty_pipe(hostfile);
  probe_signals();
  probe_terminal();
  probe_misc(hostfile);
  say("survived", "ok");
  return 0;
}
