/*
 * util.c: failure reporting (fail), number parsing, exact writes and the little-endian integers
 * of the pipe formats, shared by every mechanism of the helper.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int status_fd = -1;

void one_line(char *s) {
  for (unsigned char *p = (unsigned char *)s; *p != '\0'; p++)
    if (*p < 0x20 || *p == 0x7f) *p = '?';
}

void fail(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  one_line(msg); /* a name from the job pipe or the workspace must not forge a status line */
  if (status_fd >= 0) {
    char line[1100];
    int n = snprintf(line, sizeof line, "E%s\n", msg);
    if (n > 0 && write(status_fd, line, (size_t)n) < 0) { /* nothing more we can do */ }
  } else {
    fprintf(stderr, "cylo-helper: %s\n", msg);
  }
  _exit(127);
}

long long parse_num(const char *s, const char *what) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') fail("bad number for %s: %s", what, s);
  return v;
}

void set_status_fd(const char *s, const char *what, int cloexec) {
  int fd = parse_fd(s, what);
  /* Checked before it is used: until then failures go to stderr, so a status fd that is not
   * open (or is stdio) is reported rather than written into the void or into the output. */
  if (fd < 3) fail("%s %s: must be 3 or above (never stdio)", what, s);
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) fail("%s %s: not an open descriptor", what, s);
  if (cloexec && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) fail("%s %s: %s", what, s, strerror(errno));
  status_fd = fd;
}

int parse_fd(const char *s, const char *what) {
  long long v = parse_num(s, what);
  if (v < 0 || v > INT_MAX) fail("bad number for %s: %s", what, s);
  return (int)v;
}

void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write failed: %s", strerror(errno));
    }
    buf += n;
    len -= (size_t)n;
  }
}

uint32_t get_le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t get_le64(const unsigned char *p) {
  return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

void put_le32(unsigned char *p, uint32_t v) {
  for (int b = 0; b < 4; b++) p[b] = (unsigned char)(v >> (8 * b));
}

void put_le64(unsigned char *p, uint64_t v) {
  for (int b = 0; b < 8; b++) p[b] = (unsigned char)(v >> (8 * b));
}

void join_cgroup(const char *procs) {
  int fd = open(procs, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) fail("cgroup: cannot open %s: %s", procs, strerror(errno));
  char pid[32];
  int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
  if (write(fd, pid, (size_t)n) != n) fail("cgroup: cannot join %s: %s", procs, strerror(errno));
  close(fd);
}
