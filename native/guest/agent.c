/*
 * agent.c: the guest agent of the microVM backend (src/microvm/). Started by the guest's /init
 * (native/guest/init.sh) as root inside a VM that runs ONE execution and is then destroyed.
 *
 * It speaks one framed protocol with the host over the virtio-serial port named "cylo.job"
 * (QEMU), or a vsock stream (Firecracker: channel.c), src/microvm/channel.ts being the other end. A frame: u8 channel, u32 length (little-endian),
 * then `length` bytes; every length is checked against FRAME_MAX before anything is read.
 *   host -> guest  'P' ping (the host is connected)       guest -> host  'H' hello: uname -r
 *                  'S' a stage: its inner-helper argv                     'O' stdout, 'E' stderr
 *                      (NUL-separated) after "mem=N pids=N ws=N\n"        'T' helper status bytes
 *                  'B' job+files bytes, 'b' their end                     'A' artifact/outputs
 *                  'I' stdin bytes, 'i' stdin end                         'D' stage done: "oom=N
 *                  'K' kill the stage (cgroup.kill)                           pids=N peak=N"
 *                  'G' signal the program: its number,
 *                      decimal (forward-signal.c's list)
 *                  'R' reseed (a VM restored from a snapshot):            'R' reseeded: uname -r
 *                      "time=SEC.NSEC\n" then >= 32 random bytes
 *                                                                         'C' the stage cgroup's
 *                                                                             CPU usec, ~4 a second
 *                                                                         'F' the agent failed
 * A stage runs the unchanged namespace helper's inner mode (cylo-helper inner: the job, the
 * files, rlimits, Landlock, the program's exact status, artifacts, output files) as PID 1 of a
 * fresh PID and mount namespace, as the unprivileged uid JOB_UID, in a guest cgroup-v2 with the
 * stage's memory and pids limits, on a fresh size-capped tmpfs at /work. The same helper
 * protocol as on the host, so the host parses it with the same code (src/sandbox/helper-status.ts).
 * The guest kernel is the isolation boundary; all of this is defence in depth inside it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/random.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "channel.h"
#include "forward-signal.h"

#define STDIN_MAX (256U << 20)    /* stdin bytes buffered in the agent before the program reads */
#define MAX_ARGS 512
#define JOB_UID 1000              /* the program's uid: no file of the guest belongs to it */
#define HELPER "/.cylo/helper"    /* the namespace helper, in the initramfs at the host's path */
#define WORK "/work"
/* The helper's descriptors, as src/sandbox/bwrap-argv.ts numbers them. */
enum { FD_STATUS = 4, FD_BUNDLE = 5, FD_EMIT = 6, FD_CPU = 7 };

struct stage {
  long long mem, pids, ws;
  char *argv[MAX_ARGS + 1];
  pid_t pid;                   /* the helper: PID 1 of the stage's PID namespace */
  int in, out, err, status, bundle, emit; /* our ends of its pipes; -1 once closed */
  char *stdin_buf;             /* host stdin not yet taken by the program */
  size_t stdin_len;
  int stdin_end;
};

/* Parses an 'S' frame: "mem=N pids=N ws=N\n" then the helper's argv, NUL-separated. */
static void parse_stage(struct stage *s, char *buf, uint32_t len) {
  char *nl = memchr(buf, '\n', len);
  if (nl == NULL || sscanf(buf, "mem=%lld pids=%lld ws=%lld", &s->mem, &s->pids, &s->ws) != 3) die("bad stage header");
  if (s->mem < (1 << 20) || s->pids < 1 || s->ws < 4096) die("stage limits out of range");
  int n = 0;
  for (char *p = nl + 1; p < buf + len; p += strlen(p) + 1) {
    if (n >= MAX_ARGS) die("too many helper arguments");
    s->argv[n++] = p;
  }
  s->argv[n] = NULL;
  if (n < 2 || strcmp(s->argv[0], HELPER) != 0 || strcmp(s->argv[1], "inner") != 0) die("a stage runs the helper's inner mode only");
}

/* The stage's cgroup (memory.max, memory.swap.max 0, pids.max) and its fresh workspace tmpfs. */
static void prepare(const struct stage *s) {
  char v[32];
  if (mkdir(CG, 0755) < 0) die("mkdir " CG ": %s", strerror(errno));
  snprintf(v, sizeof v, "%lld", s->mem);
  write_file(CG "/memory.max", v);
  write_file(CG "/memory.swap.max", "0");
  snprintf(v, sizeof v, "%lld", s->pids);
  write_file(CG "/pids.max", v);
  char opts[96];
  /* nosuid, nodev: nothing in the workspace gains privileges or reaches a device. */
  snprintf(opts, sizeof opts, "size=%lld,nr_inodes=%lld,mode=0755,uid=%d,gid=%d", s->ws, s->ws / 4096 + 16, JOB_UID, JOB_UID);
  if (mount("cylo-work", WORK, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) die("mount the workspace: %s", strerror(errno));
}

/* Moves FD to TARGET in the child (dup2 clears close-on-exec). */
static void place(int fd, int target) {
  if (fd == target) { if (fcntl(fd, F_SETFD, 0) < 0) _exit(120); return; }
  if (dup2(fd, target) < 0) _exit(120);
}

/* The child: joins the cgroup, enters a new PID and mount namespace, drops to JOB_UID and execs
 * the helper as that namespace's PID 1. Failures exit 120..126 (reported as a setup error). */
static void start_child(const struct stage *s, const int fds[7]) {
  /* Join the cgroup first: not one fork of the stage escapes its memory and pids limits. */
  int cg = open(CG "/cgroup.procs", O_WRONLY | O_CLOEXEC);
  if (cg < 0 || write(cg, "0", 1) != 1) _exit(121);
  close(cg);
  /* A PID namespace of its own: the helper is PID 1 (it refuses otherwise) and the kernel kills
   * every process of the stage when it exits. A mount namespace: nothing it mounts is ours. */
  if (unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS) < 0) _exit(122);
  pid_t pid = fork();
  if (pid < 0) _exit(123);
  if (pid > 0) {
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  }
  /* The program's identity: an unprivileged uid with no groups, no way back to root. */
  if (setgroups(0, NULL) < 0 || setresgid(JOB_UID, JOB_UID, JOB_UID) < 0 || setresuid(JOB_UID, JOB_UID, JOB_UID) < 0) _exit(124);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) _exit(125);
  if (chdir(WORK) < 0) _exit(126);
  int targets[7] = {0, 1, 2, FD_STATUS, FD_BUNDLE, FD_EMIT, FD_CPU};
  int moved[7];
  for (int k = 0; k < 7; k++) { moved[k] = fcntl(fds[k], F_DUPFD_CLOEXEC, 20); if (moved[k] < 0) _exit(120); }
  for (int k = 0; k < 7; k++) place(moved[k], targets[k]);
  execv(HELPER, s->argv);
  _exit(127);
}

/* Pipes for the helper, the child forked; our ends kept in S. */
static void spawn(struct stage *s) {
  int in[2], out[2], err[2], st[2], bun[2], em[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(st, O_CLOEXEC) || pipe2(bun, O_CLOEXEC) || pipe2(em, O_CLOEXEC))
    die("pipe: %s", strerror(errno));
  int cpu = open(CG "/cpu.stat", O_RDONLY | O_CLOEXEC);
  if (cpu < 0) die("open " CG "/cpu.stat: %s", strerror(errno));
  int fds[7] = {in[0], out[1], err[1], st[1], bun[0], em[1], cpu};
  s->pid = fork();
  if (s->pid < 0) die("fork: %s", strerror(errno));
  if (s->pid == 0) start_child(s, fds);
  for (int k = 0; k < 7; k++) close(fds[k]);
  s->in = in[1], s->out = out[0], s->err = err[0], s->status = st[0], s->bundle = bun[1], s->emit = em[0];
  if (fcntl(s->in, F_SETFL, O_NONBLOCK) < 0) die("stdin: %s", strerror(errno));
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* A frame from the host during a stage. */
static void host_frame(struct stage *s, char ch, char *buf, uint32_t len) {
  if (ch == 'B' && s->bundle >= 0) write_all(s->bundle, buf, len);
  else if (ch == 'b') close_fd(&s->bundle);
  else if (ch == 'I' && !s->stdin_end && s->in >= 0) {
    if (s->stdin_len + len > STDIN_MAX) die("more than %u bytes of stdin queued", STDIN_MAX);
    char *grown = realloc(s->stdin_buf, s->stdin_len + len);
    if (grown == NULL) die("stdin: out of memory");
    memcpy(grown + s->stdin_len, buf, len);
    s->stdin_buf = grown;
    s->stdin_len += len;
  } else if (ch == 'i') s->stdin_end = 1;
  else if (ch == 'K') write_file(CG "/cgroup.kill", "1");
  else if (ch == 'G') forward_signal(s->pid, buf, len);
}

/* Moves queued stdin into the program's pipe as far as it takes it; closes it at the end. */
static void feed_stdin(struct stage *s) {
  if (s->in < 0) return;
  while (s->stdin_len > 0) {
    ssize_t n = write(s->in, s->stdin_buf, s->stdin_len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) { s->stdin_len = 0; break; } /* EPIPE: the program closed its stdin */
    memmove(s->stdin_buf, s->stdin_buf + n, s->stdin_len - (size_t)n);
    s->stdin_len -= (size_t)n;
  }
  if (s->stdin_end || s->stdin_len == 0) { if (s->stdin_end) close_fd(&s->in); }
}

/* Forwards what is readable on FD as frames on CH; closes it at its end. */
static void forward(int *fd, char ch) {
  static char buf[65536];
  ssize_t n = read(*fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) { close_fd(fd); return; }
  send_frame(ch, buf, (uint32_t)n);
}

/* Test hook: a guest booted with cylo.panic=1 on its kernel command line (only the host puts it
 * there, only for cylo's own tests) panics its kernel when a stage arrives, as a guest kernel bug
 * reached by a program would: the host must report internal_error and replace the VM. */
static void panic_hook(void) {
  char cmdline[4096] = {0};
  int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
  close(fd);
  if (n <= 0 || strstr(cmdline, "cylo.panic=1") == NULL) return;
  write_file("/proc/sys/kernel/sysrq", "1");
  write_file("/proc/sysrq-trigger", "c");
}

/* Runs one stage to its end: until the helper exited and every pipe of it is closed. */
static void run_stage(struct stage *s, char *buf) {
  panic_hook();
  prepare(s);
  spawn(s);
  int exited = 0, code = 0;
  struct timespec last_cpu = {0, 0};
  while (!exited || s->out >= 0 || s->err >= 0 || s->status >= 0 || s->emit >= 0) {
    struct pollfd p[6] = {
        {port, POLLIN, 0}, {s->out, POLLIN, 0}, {s->err, POLLIN, 0}, {s->status, POLLIN, 0}, {s->emit, POLLIN, 0},
        {s->stdin_len > 0 ? s->in : -1, POLLOUT, 0}};
    int r = poll(p, 6, exited ? 100 : 200);
    if (r < 0 && errno != EINTR) die("poll: %s", strerror(errno));
    if (p[0].revents & POLLIN) {
      uint32_t len;
      char ch = read_frame(buf, &len);
      host_frame(s, ch, buf, len);
    }
    /* Status before output: the helper reports "started" before it execs the program, so a
     * program's first output never reaches the host before the start it follows (the host
     * enables control.signal and starts the wall clock at that start). */
    if (p[3].revents) forward(&s->status, 'T');
    if (p[1].revents) forward(&s->out, 'O');
    if (p[2].revents) forward(&s->err, 'E');
    if (p[4].revents) forward(&s->emit, 'A');
    feed_stdin(s);
    /* The CPU counter for the host's CPU-time limit, at most every 250 ms while the stage runs. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!exited && (now.tv_sec - last_cpu.tv_sec) * 1000 + (now.tv_nsec - last_cpu.tv_nsec) / 1000000 >= 250) {
      char cpu[32];
      int m = snprintf(cpu, sizeof cpu, "%lld", cg_cpu_usec());
      send_frame('C', cpu, (uint32_t)m);
      last_cpu = now;
    }
    int st;
    if (!exited && waitpid(s->pid, &st, WNOHANG) == s->pid) {
      exited = 1;
      code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      close_fd(&s->in);
      close_fd(&s->bundle);
    }
  }
  char done[160];
  int n = snprintf(done, sizeof done, "oom=%lld pids=%lld peak=%lld code=%d", cg_counter("memory.events", "oom_kill"), cg_counter("pids.events", "max"),
                   cg_value("memory.peak"), code);
  send_frame('D', done, (uint32_t)n);
  write_file(CG "/cgroup.kill", "1");
  if (umount2(WORK, MNT_DETACH) < 0) die("umount the workspace: %s", strerror(errno));
  for (int k = 0; k < 100 && rmdir(CG) < 0; k++) poll(NULL, 0, 10); /* empty once the kill is done */
  free(s->stdin_buf);
}

#define SEED_MIN 32  /* random bytes the host must send with a reseed */
#define SEED_MAX 512

/* 'R': this VM was restored from a snapshot that every VM of the pool shares, so its kernel's
 * random state (CRNG key, pools) is a copy of every other clone's: without this, two restored VMs
 * hand the same "random" bytes, UUIDs, stack canaries and ASLR offsets to their programs. The
 * host sends fresh random bytes; they go into the input pool credited (RNDADDENTROPY), then
 * RNDRESEEDCRNG makes the kernel derive a new CRNG key from that pool at once (and every CPU's
 * CRNG is discarded), before any program of a request runs. Also sets the wall clock, which a
 * snapshot freezes at the template's save. Any failure ends the agent (the VM is not used). */
static void reseed(const char *buf, uint32_t len) {
  const char *nl = memchr(buf, '\n', len);
  long long sec, nsec;
  if (nl == NULL || sscanf(buf, "time=%lld.%lld", &sec, &nsec) != 2 || nsec < 0 || nsec > 999999999) die("bad reseed header");
  uint32_t n = len - (uint32_t)(nl + 1 - buf);
  if (n < SEED_MIN || n > SEED_MAX) die("a reseed needs %d..%d random bytes, got %u", SEED_MIN, SEED_MAX, n);
  struct { int entropy_count, buf_size; unsigned char buf[SEED_MAX]; } info;
  info.entropy_count = (int)n * 8;
  info.buf_size = (int)n;
  memcpy(info.buf, nl + 1, n);
  int fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("open /dev/urandom: %s", strerror(errno));
  if (ioctl(fd, RNDADDENTROPY, &info) < 0) die("RNDADDENTROPY: %s", strerror(errno));
  if (ioctl(fd, RNDRESEEDCRNG) < 0) die("RNDRESEEDCRNG: %s", strerror(errno)); /* since Linux 4.17 */
  close(fd);
  memset(&info, 0, sizeof info);
  struct timespec now = {.tv_sec = (time_t)sec, .tv_nsec = (long)nsec};
  if (clock_settime(CLOCK_REALTIME, &now) < 0) die("clock_settime: %s", strerror(errno));
}

int main(void) {
  static char buf[FRAME_MAX + 1];
  signal(SIGPIPE, SIG_IGN);
  port = open_port();
  uint32_t len;
  while (read_frame(buf, &len) != 'P') {} /* the host is connected: from here frames reach it */
  struct utsname u;
  if (uname(&u) < 0) die("uname: %s", strerror(errno));
  send_frame('H', u.release, (uint32_t)strlen(u.release));
  for (;;) {
    char ch = read_frame(buf, &len);
    /* Input the host sent as the last stage ended (interactive stdin, a kill, a signal) has no stage to go to. */
    if (ch == 'I' || ch == 'i' || ch == 'K' || ch == 'G') continue;
    if (ch == 'R') {
      reseed(buf, len);
      send_frame('R', u.release, (uint32_t)strlen(u.release));
      continue;
    }
    if (ch != 'S') die("expected a stage, got frame '%c'", ch);
    static char stage_buf[FRAME_MAX + 1];
    memcpy(stage_buf, buf, (size_t)len + 1);
    struct stage s = {.in = -1, .out = -1, .err = -1, .status = -1, .bundle = -1, .emit = -1};
    parse_stage(&s, stage_buf, len);
    run_stage(&s, buf);
  }
}
