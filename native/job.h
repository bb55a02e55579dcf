/*
 * job.h: the bundle pipe protocol of the inner mode: the job (what to run) and the request's
 * files, both written by src/sandbox/file-bundle.ts.
 */
#ifndef CYLO_JOB_H
#define CYLO_JOB_H

#include <sys/resource.h>

#define JOB_MAX_RLIMITS 16

struct job_limit {
  int resource;
  struct rlimit value;
};

/* Flag bits of the job (format "CYJ2"); any other bit is refused. */
#define JOB_FLAG_STDERR_TO_STDOUT 1U
/* The first job only: start this runtime now, waiting for its handover (native/prestart.c); the
 * request's job follows on the same pipe. */
#define JOB_FLAG_PRESTART 2U
/* The request's job for a pre-started runtime: its argv is only what the program adds (the extra
 * arguments), its environment is empty (the runtime's was fixed at pre-start), its rlimits are
 * the request's. */
#define JOB_FLAG_HANDOVER 4U
/* With JOB_FLAG_PRESTART only: the runtime is not forked by PID 1 but injected by the host's
 * zygote (native/zygote/zygote.c); PID 1 holds the pipes for it and adopts it (prestart.c). */
#define JOB_FLAG_ZYGOTE 8U
#define JOB_KNOWN_FLAGS (JOB_FLAG_STDERR_TO_STDOUT | JOB_FLAG_PRESTART | JOB_FLAG_HANDOVER | JOB_FLAG_ZYGOTE)

struct job {
  int stderr_to_stdout; /* the program's fd 2 is its fd 1 (one pipe, in write order) */
  int prestart;         /* JOB_FLAG_PRESTART */
  int handover;         /* JOB_FLAG_HANDOVER */
  int zygote;           /* JOB_FLAG_ZYGOTE */
  char **argv; /* argv[0] is an absolute path (a handover: the extra argv); NULL-terminated */
  char **env;  /* "K=V"; NULL-terminated */
  int nrlimits;
  struct job_limit rlimits[JOB_MAX_RLIMITS];
};

/* Waits for the job on FD and reads it; refuses (fail) anything malformed or oversized. */
void read_job(int fd, struct job *job);

/* Unpacks the files that follow the job on FD into WORKDIR; refuses (fail) unsafe names. */
void unpack_bundle(int fd, const char *workdir);

#endif
