/*
 * zygote.h: what the Python zygote's files share: the injection request, the state the zygote
 * holds, and the syscall numbers older headers may lack. The module and its loop, and C (the
 * root side of an injection): zygote.c; the request: request.c; finding and verifying a
 * sandbox's PID 1: pid1.c; the injected runtime's layers (G): runtime.c.
 */
#ifndef CYLO_ZYGOTE_H
#define CYLO_ZYGOTE_H

#include <linux/filter.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "../landlock.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

#define MAX_REQUEST (64 * 1024)
#define MAX_ITEMS 512
#define MAX_CGROUPS 16
#define MAX_RLIMITS 16

struct request {
  long long bwrap_pid, uid, gid, ns_uid, ns_gid;
  int stderr_to_stdout;
  int ncgroups;
  const char *cgroups[MAX_CGROUPS];
  int nrlimits;
  struct { int resource; struct rlimit value; } rlimits[MAX_RLIMITS];
  struct landlock_policy landlock;
};

/* The request's bytes: one static buffer, wiped after every use in the zygote and in G, so that
 * no execution's memory holds another's (cgroup paths, pids). */
extern char request_bytes[MAX_REQUEST + 1];
/* The host's /proc, as a directory fd: the zygote's view has no /proc (its interpreter could
 * otherwise be pointed, by a path in a variable such as PYTHONPATH, at a file a program wrote,
 * through /proc/PID/root of a running sandbox). Only this code reads it. */
extern int proc_fd;
/* The /proc text read last (a status file): wiped in G, which must not keep host pids. */
extern char proc_text[4096];
/* The seccomp program (struct sock_filter[]), read once at startup from the host. */
extern struct sock_filter *seccomp_filter;
extern unsigned short seccomp_len;

/* Fds of G, numbered while C is still root (pidfd_getfd needs it). Stdio and the three pipes
 * go to their final numbers; the root and working directory, to these. */
#define G_ROOT_FD 1003
#define G_CWD_FD 1004

/* request.c: parses the NUL-separated items of request_bytes[0..len) into R, or fails. */
void parse_request(size_t len, struct request *r);

/* pid1.c */
int pidfd_open_checked(pid_t pid, const char *what);
int alive(int pidfd);
void read_proc(pid_t pid, const char *file, char *buf, size_t len);
const char *status_field(const char *status, const char *key);
int find_pid1(const struct request *r, pid_t *pid);

/* runtime.c: G's layers, between the fork into the sandbox and the return to Python. */
void child_g(const struct request *r, mode_t umask_value);

#endif
