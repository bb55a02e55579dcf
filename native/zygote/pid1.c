/*
 * pid1.c: finding the prepared sandbox's PID 1 from its bubblewrap's pid and verifying it, with
 * pidfds bracketing every /proc read (native/zygote/zygote.c's C runs this as root).
 */
#include "zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include <poll.h>
#include <sys/syscall.h>

#include "../util.h"

int pidfd_open_checked(pid_t pid, const char *what) {
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) fail("zygote: pidfd_open(%s %d): %s", what, (int)pid, strerror(errno));
  return fd;
}

/* True while the process behind PIDFD lives (so a /proc read made after pidfd_open was of it):
 * a pidfd polls readable once its process has exited. (Not a signal 0: that needs CAP_KILL for
 * another uid's process, which the zygote does not hold.) */
int alive(int pidfd) {
  struct pollfd p = {.fd = pidfd, .events = POLLIN};
  int n;
  do n = poll(&p, 1, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) fail("zygote: poll a pidfd: %s", strerror(errno));
  return n == 0;
}

/* Reads /proc/PID/FILE (at most LEN-1 bytes, NUL-terminated). */
void read_proc(pid_t pid, const char *file, char *buf, size_t len) {
  char path[64];
  snprintf(path, sizeof path, "%d/%s", (int)pid, file);
  int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) fail("zygote: open %s: %s", path, strerror(errno));
  size_t got = 0;
  for (;;) {
    ssize_t n = read(fd, buf + got, len - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("zygote: read %s: %s", path, strerror(errno));
    if (n == 0 || got + (size_t)n >= len - 1) { got += n > 0 ? (size_t)n : 0; break; }
    got += (size_t)n;
  }
  close(fd);
  buf[got] = '\0';
}

/* The value after "KEY:\t" in a /proc/PID/status text, or NULL. */
const char *status_field(const char *status, const char *key) {
  size_t klen = strlen(key);
  for (const char *line = status; line != NULL && *line != '\0';) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ':') return line + klen + 1;
    line = strchr(line, '\n');
    if (line != NULL) line++;
  }
  return NULL;
}

/* The first number of a status field (e.g. the real uid of "Uid:"), or -1. */
static long long first_number(const char *status, const char *key) {
  const char *v = status_field(status, key);
  if (v == NULL) return -1;
  char *end = NULL;
  long long n = strtoll(v, &end, 10);
  return end == v ? -1 : n;
}

/* The last number of a status field (e.g. the innermost pid of "NSpid:"), and how many there are. */
static long long last_number(const char *status, const char *key, int *count) {
  const char *v = status_field(status, key);
  *count = 0;
  if (v == NULL) return -1;
  long long last = -1;
  for (;;) {
    while (*v == ' ' || *v == '\t') v++;
    if (*v == '\n' || *v == '\0') break;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (end == v) break;
    last = n;
    (*count)++;
    v = end;
  }
  return last;
}


/* Finds and verifies the sandbox's PID 1: the one child of bubblewrap BWRAP (itself running as
 * the slot's uid) that is PID 1 of a PID namespace below ours and runs as the slot's uid.
 * Returns its pidfd; PID gets its pid here. Every /proc read is bracketed by a pidfd of the
 * process read, checked alive afterwards: a pid reused meanwhile cannot pass. */
int find_pid1(const struct request *r, pid_t *pid) {
  pid_t bwrap = (pid_t)r->bwrap_pid;
  int bwrap_fd = pidfd_open_checked(bwrap, "bubblewrap");
  char *status = proc_text;
  read_proc(bwrap, "status", status, sizeof proc_text);
  if (first_number(status, "Uid") != r->uid) fail("zygote: process %d does not run as the slot's uid %lld", (int)bwrap, r->uid);
  const char *name = status_field(status, "Name");
  if (name == NULL || strncmp(name, "\tbwrap\n", 7) != 0) fail("zygote: process %d is not bubblewrap", (int)bwrap);
  char children[256], file[64];
  snprintf(file, sizeof file, "task/%d/children", (int)bwrap);
  read_proc(bwrap, file, children, sizeof children);
  if (!alive(bwrap_fd)) fail("zygote: bubblewrap %d ended", (int)bwrap);
  char *end = NULL;
  long long child = strtoll(children, &end, 10);
  if (end == children || child <= 1) fail("zygote: bubblewrap %d has no child", (int)bwrap);
  while (*end == ' ') end++;
  if (*end != '\0' && *end != '\n') fail("zygote: bubblewrap %d has more than one child", (int)bwrap);
  int fd = pidfd_open_checked((pid_t)child, "PID 1");
  read_proc((pid_t)child, "status", status, sizeof proc_text);
  int depth = 0;
  if (first_number(status, "PPid") != bwrap || first_number(status, "Uid") != r->uid || last_number(status, "NSpid", &depth) != 1 || depth < 2)
    fail("zygote: process %lld is not the sandbox's PID 1", child);
  if (!alive(fd) || !alive(bwrap_fd)) fail("zygote: the sandbox ended");
  close(bwrap_fd);
  *pid = (pid_t)child;
  return fd;
}

