/*
 * prestart.h: a language runtime started ahead of its request inside the sandbox, waiting for
 * the rest of its argv on a pipe (see prestart.c).
 */
#ifndef CYLO_PRESTART_H
#define CYLO_PRESTART_H

#include <sys/types.h>

#include "cpu-counter.h"
#include "job.h"

/* The fd on which a pre-started runtime's trusted stub reads its handover (the program's extra
 * argv, each item NUL-terminated, then end of file). The stub closes it before any user code
 * runs, so the program sees only fds 0-2, as a cold start does. High, below the nofile rlimit
 * (1024), so that the runtime's own descriptors get the numbers a cold start gives them (Node's
 * libuv opens a dozen while it boots; the differential suite compares them). The stubs
 * (native/prestart/) name the same number. */
#define PRESTART_HANDOVER_FD 1000
/* The fd on which the stub says it is ready (one byte, then it closes it): the runtime has
 * initialised and copied its argv, so PID 1 may rewrite its command line. */
#define PRESTART_READY_FD 1001
/* Zygote mode only: the fd on which the injected runtime tells PID 1 its pid ("P <pid>\n") or
 * why it could not be set up ("E<message>\n"), then closes it (native/zygote/zygote.c). */
#define ZYGOTE_PID_FD 1002

struct prestarted {
  pid_t pid;        /* the waiting runtime; -1 when there is none */
  int handover_fd;  /* PID 1's write end of its handover pipe; -1 when there is none */
  int exec_fd;      /* end of file once the runtime has exec'd (or died); -1 when there is none */
  int ready_fd;     /* one byte (or end of file) once the stub waits for its handover; -1 when none */
  int reaped;       /* the runtime had already ended at its handover (its status is below) */
  int status;       /* its wait status then */
};

/* Hands JOB (a handover job: its argv is the program's whole argv as a cold start has it, of
 * which the runtime already has the first two items; its rlimits are the request's) to the
 * waiting runtime: waits until the stub is ready, writes the whole argv into the runtime's
 * command line (so /proc/PID/cmdline and ps show the program's arguments, as for a cold start),
 * lowers its rlimits (prlimit), reports "R <usec>" (the program starts here: the wait before is
 * not its time, nor its CPU), writes argv[2..] on the handover pipe and closes it.
 * A runtime that already ended (killed under the request's limits, which the host set before
 * sending the job) is reaped here: PRE's reaped and status say so, and its end is reported as
 * the program's. Fails (a setup error) when a limit cannot be set. Returns its pid. */
pid_t hand_over(struct prestarted *pre, const struct job *job, const struct cpu_counter *cpu);

/* Kills and reaps a waiting runtime the request does not use (another language, another
 * environment): its process never ran untrusted code and leaves nothing behind. */
void discard_prestarted(struct prestarted *pre);

#endif
