/*
 * cgroup.c: the guest agent's stage cgroup (cgroup v2 at CG, mounted by /init): writing its
 * limits and reading its counters (CPU time, memory and pids events, peak memory).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "channel.h"

void write_file(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("open %s: %s", path, strerror(errno));
  if (write(fd, value, strlen(value)) < 0) die("write %s=%s: %s", path, value, strerror(errno));
  close(fd);
}

/* Reads the stage cgroup's FILE into BUF (NUL-terminated); 0 when it cannot be read. */
static int read_cg(const char *file, char *buf, size_t size) {
  char path[128];
  snprintf(path, sizeof path, CG "/%s", file);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  return 1;
}

/* A counter NAME from a cgroup file of "key value" lines (memory.events, pids.events), or 0. */
long long cg_counter(const char *file, const char *name) {
  char buf[1024];
  if (!read_cg(file, buf, sizeof buf)) return 0;
  size_t len = strlen(name);
  for (char *line = buf; line != NULL; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncmp(line, name, len) == 0 && line[len] == ' ') return atoll(line + len + 1);
    if (*line == '\0') break;
  }
  return 0;
}

/* The stage cgroup's CPU time in microseconds (cpu.stat usage_usec), or 0. */
long long cg_cpu_usec(void) {
  return cg_counter("cpu.stat", "usage_usec");
}

/* A cgroup file holding one number (memory.peak), or 0. */
long long cg_value(const char *file) {
  char buf[64];
  return read_cg(file, buf, sizeof buf) ? atoll(buf) : 0;
}
