/*
 * cpu-counter.h: the execution cgroup's CPU-time counter, read by PID 1 through an fd the outer
 * helper opened (the sandbox has no cgroup filesystem), so that the program's own CPU time is
 * the counter at its exit minus the counter at its exec: bubblewrap's and the helper's setup
 * (namespaces, mounts, seccomp, unpacking the files, Landlock) is not charged to the program.
 */
#ifndef CYLO_CPU_COUNTER_H
#define CYLO_CPU_COUNTER_H

enum cpu_counter_format {
  CPU_COUNTER_NONE = 0,
  CPU_COUNTER_V1, /* cpuacct.usage: nanoseconds, one number */
  CPU_COUNTER_V2, /* cpu.stat: a "usage_usec N" line */
};

struct cpu_counter {
  int fd; /* -1: none */
  enum cpu_counter_format format;
};

/* The counter in microseconds; fail()s when it cannot be read (a counter that was asked for and
 * cannot be read would make the CPU figure and the CPU limit wrong). Only with fd >= 0. */
long long cpu_counter_usec(const struct cpu_counter *c);

/* Parses "v1" or "v2" for --cpu-format. */
enum cpu_counter_format cpu_counter_format(const char *v);

#endif
