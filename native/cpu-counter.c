/*
 * cpu-counter.c: reads the execution cgroup's CPU-time counter (see cpu-counter.h).
 */
#include "cpu-counter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

enum cpu_counter_format cpu_counter_format(const char *v) {
  if (strcmp(v, "v1") == 0) return CPU_COUNTER_V1;
  if (strcmp(v, "v2") == 0) return CPU_COUNTER_V2;
  fail("--cpu-format wants v1 or v2, got %s", v);
}

/* A decimal number at S, ending in a newline or the end of the text; -1 otherwise. */
static long long parse_counter(const char *s) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || v < 0 || (*end != '\n' && *end != '\0')) return -1;
  return v;
}

long long cpu_counter_usec(const struct cpu_counter *c) {
  char buf[4096];
  /* The kernel charges a running task's CPU to its cgroup lazily (at ticks, switches, ...).
   * Reading the thread's own CPU clock charges it now (task_sched_runtime -> update_curr), so the
   * counter below holds this process's setup too. Its result is not needed; if it failed, the
   * figure would only be a little less exact. */
  struct timespec now;
  (void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  /* pread at offset 0 regenerates the file's text each time (cgroup files are seq_files). */
  ssize_t n = pread(c->fd, buf, sizeof buf - 1, 0);
  if (n < 0) fail("cpu counter: read: %s", strerror(errno));
  buf[n] = '\0';
  long long v = -1;
  if (c->format == CPU_COUNTER_V1) {
    v = parse_counter(buf);
    if (v >= 0) v /= 1000; /* ns -> us */
  } else if (c->format == CPU_COUNTER_V2) {
    const char *line = strncmp(buf, "usage_usec ", 11) == 0 ? buf : strstr(buf, "\nusage_usec ");
    if (line != NULL) v = parse_counter(line + (line == buf ? 11 : 12));
  }
  if (v < 0) fail("cpu counter: cannot parse the cgroup's CPU counter");
  return v;
}
