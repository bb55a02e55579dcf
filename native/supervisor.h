/*
 * supervisor.h: PID 1 of the sandbox: runs the program under its limits and reports its status.
 */
#ifndef CYLO_SUPERVISOR_H
#define CYLO_SUPERVISOR_H

#include "cpu-counter.h"
#include "emit.h"
#include "job.h"
#include "landlock.h"
#include "outputs.h"
#include "prestart.h"

/* Forks the job's program (or, for a handover job, hands it to the pre-started runtime PRE;
 * without one, PRE's runtime is discarded first) (rlimits, Landlock, only fds 0-2, then "R <usec>" and exec), reaps
 * every process until it exits, emits the artifact (a compile stage) or the output files (a run
 * stage with outputs) when asked, reports
 * "X <code> <signal> <usec>" and exits with the program's status (<usec>: the cgroup's CPU
 * counter at that moment; both left out without a counter). Must be PID 1 of the sandbox's PID
 * namespace. */
void supervise(const struct job *job, const struct landlock_policy *landlock, const struct emit_plan *emit, const struct output_plan *outputs,
               const struct cpu_counter *cpu, struct prestarted *pre)
    __attribute__((noreturn));

/* Starts a pre-start job's runtime now (native/prestart.c): forked like a program, under every
 * layer, with the read end of a new handover pipe as its PRESTART_HANDOVER_FD; fills PRE. */
void prestart_runtime(const struct job *job, const struct landlock_policy *landlock, const struct cpu_counter *cpu, struct prestarted *pre);

#endif
