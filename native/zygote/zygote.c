/*
 * zygote.c: the Python zygote (issue 19; docs/security.md "The Python zygote"), a CPython
 * extension module, _cylo_zygote, loaded only by the pre-start stub of a zygote process.
 *
 * Why by hand: no library forks an initialised interpreter into another process's namespaces
 * and credentials. The layers themselves are the helper's own code (landlock.c, the rlimits,
 * workspace.c's OOM preference), compiled in here, not copies.
 *
 * A zygote is a python3 interpreter started by the host (src/sandbox/zygote.ts) as root, under
 * bubblewrap with the same read-only filesystem view as a sandbox of its runtime, that has run
 * its initialisation and the trusted stub (native/prestart/python/sitecustomize.py) and nothing
 * else: it never runs a program and never reads anything a program wrote. serve() then waits
 * for injection requests from the host. For each one:
 *
 *   zygote --fork--> C (root, the zygote's namespaces) --fork--> C2 --fork--> G
 *     C: finds the prepared sandbox's PID 1 from its bubblewrap's pid (pidfds, verified), takes
 *        from PID 1 the program's stdio and the three pre-start pipes (pidfd_getfd), its root,
 *        working directory and umask, joins the slot's cgroups, drops supplementary groups,
 *        enters all of PID 1's namespaces (setns), forks C2 (the first process in the sandbox's
 *        PID namespace), which forks G and exits, and exits.
 *     G (PID 2+ of the sandbox; re-parented to its PID 1 when C2 exits): chroots to PID 1's root,
 *        drops the capability bounding set, becomes the sandbox's uid and gid, clears every
 *        capability, sets no_new_privs, loads the same seccomp program bubblewrap gave PID 1,
 *        prefers itself for the OOM killer, sets the request's rlimits, applies the same
 *        Landlock policy, keeps only fds 0-2 and the pre-start pipes, tells PID 1 its pid, and
 *        returns to Python: from there on it is exactly a pre-started runtime (prestart.c).
 *
 * So G ends with every layer a pre-started runtime of PID 1's own fork has (same namespaces,
 * uid, cgroups, seccomp, Landlock, rlimits, fds) without having paid the interpreter's start.
 * What it shares with its siblings: the zygote's memory, copy-on-write (the layout: ASLR is
 * per zygote, not per execution; the str hash seed), never anything an execution wrote.
 *
 * Failures: in C, "E<message>" on the reply fd (util.c fail with status_fd = the reply fd), exit
 * 127; in G, "E<message>" on the pid pipe to PID 1, which fails the sandbox with it. No layer is
 * ever skipped: any failed step ends the process.
 *
 * Request (the host, on the request fd): u32 length (little-endian), then that many bytes of
 * NUL-terminated items, option and value alternating:
 *   --bwrap-pid N --uid HOSTUID --gid HOSTGID --ns-uid N --ns-gid N --stderr-to-stdout 0|1
 *   [--cgroup-procs PATH-BELOW-CGROUP-ROOT]... [--rlimit RESOURCE:SOFT:HARD]...
 *   [--landlock on|noscope|off] [--ro|--rx|--dev|--rw PATH]...
 * Reply: "ok\n" once G exists, or "E<message>\n".
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../landlock.h"
#include "../missing-defs.h"
#include "../prestart.h"
#include "../util.h"
#include "../workspace.h"

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
static char request_bytes[MAX_REQUEST + 1];
/* The host's /proc, as a directory fd: the zygote's view has no /proc (its interpreter could
 * otherwise be pointed, by a path in a variable such as PYTHONPATH, at a file a program wrote,
 * through /proc/PID/root of a running sandbox). Only this code reads it. */
static int proc_fd = -1;
/* The /proc text read last (a status file): wiped in G, which must not keep host pids. */
static char proc_text[4096];
/* The seccomp program (struct sock_filter[]), read once at startup from the host. */
static struct sock_filter *seccomp_filter;
static unsigned short seccomp_len;

/* ------------------------------------------------------------------------------------------ */
/* small helpers                                                                               */
/* ------------------------------------------------------------------------------------------ */

static void read_exact(int fd, void *buf, size_t len, int *eof) {
  char *p = buf;
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, p + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("zygote: read the request: %s", strerror(errno));
    if (n == 0) {
      if (got == 0 && eof != NULL) { *eof = 1; return; }
      fail("zygote: a truncated request");
    }
    got += (size_t)n;
  }
}

static int pidfd_open_checked(pid_t pid, const char *what) {
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) fail("zygote: pidfd_open(%s %d): %s", what, (int)pid, strerror(errno));
  return fd;
}

/* True while the process behind PIDFD lives (so a /proc read made after pidfd_open was of it):
 * a pidfd polls readable once its process has exited. (Not a signal 0: that needs CAP_KILL for
 * another uid's process, which the zygote does not hold.) */
static int alive(int pidfd) {
  struct pollfd p = {.fd = pidfd, .events = POLLIN};
  int n;
  do n = poll(&p, 1, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) fail("zygote: poll a pidfd: %s", strerror(errno));
  return n == 0;
}

/* Reads /proc/PID/FILE (at most LEN-1 bytes, NUL-terminated). */
static void read_proc(pid_t pid, const char *file, char *buf, size_t len) {
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
static const char *status_field(const char *status, const char *key) {
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

/* ------------------------------------------------------------------------------------------ */
/* the request                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static void rlimit_option(struct request *r, char *v) {
  static const struct { const char *name; int resource; } names[] = {
      {"cpu", RLIMIT_CPU}, {"fsize", RLIMIT_FSIZE}, {"data", RLIMIT_DATA}, {"stack", RLIMIT_STACK},
      {"core", RLIMIT_CORE}, {"nproc", RLIMIT_NPROC}, {"nofile", RLIMIT_NOFILE}, {"memlock", RLIMIT_MEMLOCK},
      {"as", RLIMIT_AS}, {"locks", RLIMIT_LOCKS}, {"sigpending", RLIMIT_SIGPENDING}, {"msgqueue", RLIMIT_MSGQUEUE},
      {"nice", RLIMIT_NICE}, {"rtprio", RLIMIT_RTPRIO}, {"rttime", RLIMIT_RTTIME},
  };
  char *first = strchr(v, ':');
  char *second = first == NULL ? NULL : strchr(first + 1, ':');
  if (second == NULL) fail("zygote: --rlimit wants NAME:SOFT:HARD, got %s", v);
  *first = '\0';
  *second = '\0';
  if (r->nrlimits >= MAX_RLIMITS) fail("zygote: too many --rlimit");
  int resource = -1;
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
    if (strcmp(names[k].name, v) == 0) resource = names[k].resource;
  if (resource < 0) fail("zygote: unknown rlimit %s", v);
  long long soft = parse_num(first + 1, "--rlimit soft"), hard = parse_num(second + 1, "--rlimit hard");
  if (soft < 0 || hard < 0 || soft > hard) fail("zygote: --rlimit %s: 0 <= soft <= hard", v);
  r->rlimits[r->nrlimits].resource = resource;
  r->rlimits[r->nrlimits].value.rlim_cur = (rlim_t)soft;
  r->rlimits[r->nrlimits].value.rlim_max = (rlim_t)hard;
  r->nrlimits++;
}

/* A path below the cgroup root: relative, no "..", no empty component. */
static void cgroup_option(struct request *r, const char *v) {
  if (r->ncgroups >= MAX_CGROUPS) fail("zygote: too many --cgroup-procs");
  if (v[0] == '/' || v[0] == '\0' || strstr(v, "..") != NULL || strstr(v, "//") != NULL) fail("zygote: --cgroup-procs wants a path below the cgroup root, got %s", v);
  size_t len = strlen(v);
  if (len < 13 || strcmp(v + len - 13, "/cgroup.procs") != 0) fail("zygote: --cgroup-procs must name a cgroup.procs file, got %s", v);
  r->cgroups[r->ncgroups++] = v;
}

static long long id_option(const char *v, const char *what) {
  long long id = parse_num(v, what);
  if (id <= 0 || id >= (long long)UINT32_MAX) fail("zygote: %s must be an unprivileged id, got %s", what, v);
  return id;
}

/* Parses the NUL-separated items of request_bytes[0..len) into R. */
static void parse_request(size_t len, struct request *r) {
  char *items[MAX_ITEMS];
  int n = 0;
  if (len == 0 || request_bytes[len - 1] != '\0') fail("zygote: a request must end with a NUL");
  for (size_t at = 0; at < len; at += strlen(request_bytes + at) + 1) {
    if (n >= MAX_ITEMS) fail("zygote: too many request items");
    items[n++] = request_bytes + at;
  }
  if (n % 2 != 0) fail("zygote: request items come in pairs");
  memset(r, 0, sizeof *r);
  r->bwrap_pid = r->uid = r->gid = r->ns_uid = r->ns_gid = -1;
  r->stderr_to_stdout = -1;
  r->landlock.enabled = 1;
  r->landlock.scope = 1;
  for (int i = 0; i < n; i += 2) {
    const char *a = items[i];
    char *v = items[i + 1];
    if (strcmp(a, "--bwrap-pid") == 0) {
      r->bwrap_pid = parse_num(v, a);
      if (r->bwrap_pid <= 1 || r->bwrap_pid > INT_MAX) fail("zygote: bad --bwrap-pid %s", v);
    } else if (strcmp(a, "--uid") == 0) {
      r->uid = id_option(v, a);
    } else if (strcmp(a, "--gid") == 0) {
      r->gid = id_option(v, a);
    } else if (strcmp(a, "--ns-uid") == 0) {
      r->ns_uid = id_option(v, a);
    } else if (strcmp(a, "--ns-gid") == 0) {
      r->ns_gid = id_option(v, a);
    } else if (strcmp(a, "--stderr-to-stdout") == 0) {
      if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) fail("zygote: --stderr-to-stdout wants 0 or 1");
      r->stderr_to_stdout = v[0] == '1';
    } else if (strcmp(a, "--cgroup-procs") == 0) {
      cgroup_option(r, v);
    } else if (strcmp(a, "--rlimit") == 0) {
      rlimit_option(r, v);
    } else if (!landlock_parse_option(&r->landlock, a, v)) {
      fail("zygote: unknown request option %s", a);
    }
  }
  if (r->bwrap_pid < 0 || r->uid < 0 || r->gid < 0 || r->ns_uid < 0 || r->ns_gid < 0 || r->stderr_to_stdout < 0)
    fail("zygote: a request needs --bwrap-pid, --uid, --gid, --ns-uid, --ns-gid and --stderr-to-stdout");
  if (r->ncgroups == 0) fail("zygote: a request needs at least one --cgroup-procs (the slot's limits)");
  if (r->landlock.nports > 0) fail("zygote: --connect-tcp is for network builds, which never use a zygote");
}

/* ------------------------------------------------------------------------------------------ */
/* C: the root side                                                                            */
/* ------------------------------------------------------------------------------------------ */

/* Finds and verifies the sandbox's PID 1: the one child of bubblewrap BWRAP (itself running as
 * the slot's uid) that is PID 1 of a PID namespace below ours and runs as the slot's uid.
 * Returns its pidfd; PID gets its pid here. Every /proc read is bracketed by a pidfd of the
 * process read, checked alive afterwards: a pid reused meanwhile cannot pass. */
static int find_pid1(const struct request *r, pid_t *pid) {
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

/* pidfd_getfd: a copy of PID 1's fd FROM, placed at TO (inheritable). */
static void take_fd(int pidfd, int from, int to) {
  int fd = (int)syscall(SYS_pidfd_getfd, pidfd, from, 0);
  if (fd < 0) fail("zygote: take fd %d of PID 1: %s", from, strerror(errno));
  if (fd == to) {
    if (fcntl(fd, F_SETFD, 0) < 0) fail("zygote: fcntl: %s", strerror(errno));
    return;
  }
  if (dup2(fd, to) < 0) fail("zygote: dup2 to %d: %s", to, strerror(errno));
  close(fd);
}

/* Joins the slot's cgroup: "0" into cgroup.procs, opened beneath the cgroup root fd without
 * following any link (the directories are root's; openat2 makes sure of it anyway). */
static void join_cgroup_below(int root, const char *path) {
  struct open_how how = {.flags = O_WRONLY | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
  int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
  if (fd < 0) fail("zygote: cgroup: open %s: %s", path, strerror(errno));
  if (write(fd, "0", 1) != 1) fail("zygote: cgroup: join %s: %s", path, strerror(errno));
  close(fd);
}

/* Fds of G, numbered while C is still root (pidfd_getfd needs it). Stdio and the three pipes
 * go to their final numbers; the root and working directory, to these. */
#define G_ROOT_FD 1003
#define G_CWD_FD 1004

static void child_c(const struct request *r, int cgroup_root, int reply_fd, int request_fd);


/* G: everything between the fork into the sandbox and the return to Python. */
static void child_g(const struct request *r, mode_t umask_value) {
  /* The sandbox's root and working directory (PID 1's), and this process is in its mount
   * namespace: whatever of the zygote's view remains is left behind here. */
  if (fchdir(G_ROOT_FD) < 0 || chroot(".") < 0) fail("zygote: chroot to the sandbox's root: %s", strerror(errno));
  if (fchdir(G_CWD_FD) < 0) fail("zygote: chdir to the sandbox's working directory: %s", strerror(errno));
  close(G_ROOT_FD);
  close(G_CWD_FD);
  /* No capability can come back through an exec (bubblewrap's --cap-drop ALL empties the
   * bounding set of PID 1 too). Needs CAP_SETPCAP, held in the sandbox's user namespace now. */
  for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) fail("zygote: drop capability %d from the bounding set: %s", cap, strerror(errno));
  /* The sandbox's ordinary user (bwrap --uid/--gid), which is the slot's uid on the host. */
  if (setresgid((gid_t)r->ns_gid, (gid_t)r->ns_gid, (gid_t)r->ns_gid) < 0) fail("zygote: setresgid: %s", strerror(errno));
  if (setresuid((uid_t)r->ns_uid, (uid_t)r->ns_uid, (uid_t)r->ns_uid) < 0) fail("zygote: setresuid: %s", strerror(errno));
  if (getuid() != (uid_t)r->ns_uid || geteuid() != (uid_t)r->ns_uid || getgid() != (gid_t)r->ns_gid || getegid() != (gid_t)r->ns_gid)
    fail("zygote: the identity did not change");
  /* Every capability set empty: entering a user namespace gives all of them, and the uid change
   * above clears them only when the old uid was root *in this namespace* (host root is not). */
  struct __user_cap_header_struct head = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &head, data) < 0) fail("zygote: capset (clear all): %s", strerror(errno));
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) fail("zygote: clear ambient capabilities: %s", strerror(errno));
  if (syscall(SYS_capget, &head, data) < 0) fail("zygote: capget: %s", strerror(errno));
  for (int k = 0; k < 2; k++)
    if (data[k].effective != 0 || data[k].permitted != 0 || data[k].inheritable != 0) fail("zygote: a capability survived");
  if (setuid(0) == 0) fail("zygote: could become uid 0 again");
  /* no_new_privs: no setuid binary or file capability can raise privileges (bubblewrap sets it
   * for PID 1; seccomp below needs it). */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("zygote: no_new_privs: %s", strerror(errno));
  /* The same syscall filter bubblewrap loaded for PID 1 (the host's seccomp program). */
  if (seccomp_filter != NULL) {
    struct sock_fprog prog = {.len = seccomp_len, .filter = seccomp_filter};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) fail("zygote: seccomp: %s", strerror(errno));
  }
  /* A cold start inherits PID 1's umask, an empty signal mask and default dispositions of the
   * signals the zygote's serve loop touched. */
  umask(umask_value);
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, NULL) < 0) fail("zygote: signal mask: %s", strerror(errno));
  /* Dumpable again (the uid change reset it): PID 1 writes the program's argv into this
   * process's command line at the handover (/proc/PID/mem), as for its own pre-started runtime;
   * and the OOM killer's first choice, like every program (workspace.c). */
  prefer_program_for_oom();
  for (int k = 0; k < r->nrlimits; k++)
    if (setrlimit(r->rlimits[k].resource, &r->rlimits[k].value) < 0) fail("zygote: rlimit %d: %s", r->rlimits[k].resource, strerror(errno));
  if (r->landlock.enabled) apply_landlock(&r->landlock);
  if (r->stderr_to_stdout && dup2(STDOUT_FILENO, STDERR_FILENO) < 0) fail("zygote: dup2(1, 2): %s", strerror(errno));
  /* Only fds 0-2 and the pre-start pipes: the zygote's request, reply and cgroup fds close. */
  if (syscall(SYS_close_range, 3U, (unsigned)PRESTART_HANDOVER_FD - 1, 0) < 0 || syscall(SYS_close_range, (unsigned)ZYGOTE_PID_FD + 1, ~0U, 0) < 0)
    fail("zygote: close_range: %s", strerror(errno));
  /* Re-parented to PID 1 once C2 has exited (until then the parent is C2). PID 1 adopts only
   * its own child. */
  while (getppid() != 1) {
    struct timespec t = {.tv_sec = 0, .tv_nsec = 20000};
    nanosleep(&t, NULL);
  }
  char line[32];
  int n = snprintf(line, sizeof line, "P %d\n", (int)getpid());
  write_all(ZYGOTE_PID_FD, line, (size_t)n);
  close(ZYGOTE_PID_FD);
  status_fd = -1;
  explicit_bzero(request_bytes, sizeof request_bytes);
  explicit_bzero(proc_text, sizeof proc_text);
}

/* fork() whose child has pid PID in the PID namespace this process's children go to
 * (clone3 set_tid, Linux 5.5; needs CAP_SYS_ADMIN over that namespace, held in the sandbox's
 * user namespace at this point). Returns the child's pid, 0 in the child, -1 on failure. */
static pid_t clone_with_pid(pid_t pid) {
  pid_t tid[1] = {pid};
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.exit_signal = SIGCHLD;
  args.set_tid = (uint64_t)(uintptr_t)tid;
  args.set_tid_size = 1;
  return (pid_t)syscall(SYS_clone3, &args, sizeof args);
}

/* The kernel's pid_max (the same in every PID namespace). */
static pid_t pid_max(void) {
  char buf[32];
  int fd = openat(proc_fd, "sys/kernel/pid_max", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
  if (fd >= 0) close(fd);
  if (n <= 0) fail("zygote: read /proc/sys/kernel/pid_max");
  buf[n] = '\0';
  long v = strtol(buf, NULL, 10);
  if (v < 300) fail("zygote: pid_max %ld", v);
  return (pid_t)v;
}

static void child_c(const struct request *r, int cgroup_root, int reply_fd, int request_fd) {
  status_fd = reply_fd;
  pid_t pid1 = 0;
  int pidfd = find_pid1(r, &pid1);
  pid_t top = pid_max() - 1;
  char *status = proc_text;
  read_proc(pid1, "status", status, sizeof proc_text);
  const char *um = status_field(status, "Umask");
  if (um == NULL) fail("zygote: PID 1 has no umask");
  mode_t umask_value = (mode_t)strtol(um, NULL, 8) & 0777;
  char path[64];
  snprintf(path, sizeof path, "%d/root", (int)pid1);
  int root = openat(proc_fd, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  snprintf(path, sizeof path, "%d/cwd", (int)pid1);
  int cwd = openat(proc_fd, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0 || cwd < 0) fail("zygote: open PID 1's root and working directory: %s", strerror(errno));
  if (dup2(root, G_ROOT_FD) < 0 || dup2(cwd, G_CWD_FD) < 0) fail("zygote: dup2: %s", strerror(errno));
  close(root);
  close(cwd);
  /* The program's stdin, stdout and stderr, and the pre-start pipes PID 1 holds for its runtime
   * at their fixed numbers (prestart.c zygote mode). */
  take_fd(pidfd, 0, 0);
  take_fd(pidfd, 1, 1);
  take_fd(pidfd, 2, 2);
  take_fd(pidfd, PRESTART_HANDOVER_FD, PRESTART_HANDOVER_FD);
  take_fd(pidfd, PRESTART_READY_FD, PRESTART_READY_FD);
  take_fd(pidfd, ZYGOTE_PID_FD, ZYGOTE_PID_FD);
  if (!alive(pidfd)) fail("zygote: the sandbox ended");
  for (int k = 0; k < r->ncgroups; k++) join_cgroup_below(cgroup_root, r->cgroups[k]);
  close(cgroup_root);
  close(request_fd);
  close(proc_fd);
  /* While still in the initial user namespace: bubblewrap denies setgroups in the sandbox's. */
  if (setgroups(0, NULL) < 0) fail("zygote: setgroups: %s", strerror(errno));
  /* Only the PID namespace first, while still root of the initial user namespace: choosing a
   * pid (set_tid) needs CAP_SYS_ADMIN over the user namespace that owns the sandbox's PID
   * namespace, which is not PID 1's own (bubblewrap's --disable-userns nests one more), and a
   * process that entered PID 1's user namespace has capabilities only there. */
  if (setns(pidfd, CLONE_NEWPID) < 0) fail("zygote: setns into the sandbox's PID namespace: %s", strerror(errno));
  /* setns(CLONE_NEWPID) places only this process's children in the sandbox's PID namespace, and
   * an orphan is re-parented within its dead parent's namespace: so C2 (in the sandbox's
   * namespace) forks G and exits, and G becomes a child of the sandbox's PID 1, which waits for
   * it as for its own fork. (A child of C would be re-parented to the host's init.)
   * The pids: G gets 2, as a runtime PID 1 forks itself would (a program's children then get
   * 3, 4... as in a cold start: a pid chosen with set_tid leaves the namespace's next cyclic pid
   * where PID 1 left it); C2 takes one at the top of the range, out of the way. */
  pid_t c2 = clone_with_pid(top);
  if (c2 < 0) fail("zygote: fork into the sandbox: %s", strerror(errno));
  if (c2 == 0) {
    pid_t g = clone_with_pid(2);
    /* One reply per request: C2 only exits with the errno, and C reports it. */
    if (g < 0) _exit(errno > 0 && errno < 126 ? errno : 125);
    if (g == 0) {
      close(reply_fd);
      status_fd = ZYGOTE_PID_FD; /* from now on a failure is PID 1's to report */
      /* A session and process group of its own: it must not share the zygote's (review finding
       * Z3: kill(0, ...) would reach every runtime of the zygote where Landlock cannot scope
       * signals). It cannot join PID 1's session, which PID 1's own runtimes share: its session
       * and process group ids are its pid, 2, where theirs are 1 (docs/security.md). */
      if (setsid() < 0) fail("zygote: setsid: %s", strerror(errno));
      /* Every other namespace of PID 1's, its user namespace first (the kernel enters them in
       * that order, and checks the rest with the capabilities held there). */
      if (setns(pidfd, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP) < 0)
        fail("zygote: setns into the sandbox's namespaces: %s", strerror(errno));
      close(pidfd);
      child_g(r, umask_value);
      /* Python's at-fork callbacks only now, under every layer (review finding Z4). */
      PyOS_AfterFork_Child();
      return; /* back into Python, as the sandbox's runtime */
    }
    _exit(0);
  }
  int st = 0;
  while (waitpid(c2, &st, 0) < 0)
    if (errno != EINTR) fail("zygote: waitpid: %s", strerror(errno));
  if (WIFEXITED(st) && WEXITSTATUS(st) != 0) fail("zygote: fork into the sandbox as pid 2: %s", strerror(WEXITSTATUS(st)));
  if (!WIFEXITED(st)) fail("zygote: the process forking into the sandbox ended (status %d)", st);
  _exit(0);
}

/* ------------------------------------------------------------------------------------------ */
/* the zygote                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* Reads the seccomp program (a whole number of struct sock_filter) from FD until end of file. */
static void read_seccomp(int fd) {
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  if (buf == NULL) fail("zygote: out of memory");
  for (;;) {
    if (len == cap) {
      cap *= 2;
      if (cap > 1 << 20) fail("zygote: seccomp program too large");
      buf = realloc(buf, cap);
      if (buf == NULL) fail("zygote: out of memory");
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("zygote: read the seccomp program: %s", strerror(errno));
    if (n == 0) break;
    len += (size_t)n;
  }
  close(fd);
  if (len == 0) { free(buf); return; } /* the operator relaxed seccomp: none, as for PID 1 */
  if (len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > BPF_MAXINSNS) fail("zygote: not a seccomp program (%zu bytes)", len);
  seccomp_filter = (struct sock_filter *)buf;
  seccomp_len = (unsigned short)(len / sizeof(struct sock_filter));
}

/* The capabilities an injection uses (C): setns into a sandbox's namespaces (SYS_ADMIN, and
 * SYS_CHROOT for its mount namespace), pidfd_getfd and /proc/PID/root of PID 1 (SYS_PTRACE), the
 * identity changes (SETUID, SETGID). */
#define ZYGOTE_CAPS ((1ULL << CAP_SYS_ADMIN) | (1ULL << CAP_SYS_CHROOT) | (1ULL << CAP_SYS_PTRACE) | (1ULL << CAP_SETUID) | (1ULL << CAP_SETGID))

/* Narrows the zygote to ZYGOTE_CAPS before it serves: bubblewrap run by root keeps the whole
 * bounding set and puts its --cap-add capabilities in the ambient and inheritable sets too
 * (review finding Z2); CAP_SETPCAP, added only for this, goes last. Checked afterwards. */
static void narrow_capabilities(void) {
  for (int cap = 0; cap < 64; cap++)
    if ((ZYGOTE_CAPS & (1ULL << cap)) == 0 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
      fail("zygote: drop capability %d from the bounding set: %s", cap, strerror(errno));
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) fail("zygote: clear ambient capabilities: %s", strerror(errno));
  struct __user_cap_header_struct head = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  data[0].effective = data[0].permitted = (uint32_t)ZYGOTE_CAPS;
  data[1].effective = data[1].permitted = (uint32_t)(ZYGOTE_CAPS >> 32);
  if (syscall(SYS_capset, &head, data) < 0) fail("zygote: capset: %s", strerror(errno));
  if (syscall(SYS_capget, &head, data) < 0) fail("zygote: capget: %s", strerror(errno));
  uint64_t eff = data[0].effective | (uint64_t)data[1].effective << 32, inh = data[0].inheritable | (uint64_t)data[1].inheritable << 32;
  if (eff != ZYGOTE_CAPS || inh != 0) fail("zygote: its capabilities are not the injection's");
  for (int cap = 0; cap < 64; cap++) {
    int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (in == 1 && (ZYGOTE_CAPS & (1ULL << cap)) == 0) fail("zygote: capability %d is still in the bounding set", cap);
  }
}

/* serve(request_fd, reply_fd, cgroup_root_fd, seccomp_fd, proc_fd): returns only in G. */
static PyObject *serve(PyObject *self, PyObject *args) {
  (void)self;
  int request_fd, reply_fd, cgroup_root, seccomp_fd;
  if (!PyArg_ParseTuple(args, "iiiii", &request_fd, &reply_fd, &cgroup_root, &seccomp_fd, &proc_fd)) return NULL;
  status_fd = reply_fd;
  narrow_capabilities();
  read_seccomp(seccomp_fd);
  write_all(reply_fd, "ready\n", 6);
  for (;;) {
    unsigned char head[4];
    int eof = 0;
    read_exact(request_fd, head, 4, &eof);
    if (eof) _exit(0); /* the host closed its end: the instance is closing */
    uint32_t len = get_le32(head);
    if (len == 0 || len > MAX_REQUEST) fail("zygote: a request of %u bytes", len);
    read_exact(request_fd, request_bytes, len, NULL);
    static struct request r;
    PyOS_BeforeFork();
    pid_t c = fork();
    if (c == 0) {
      parse_request(len, &r);
      child_c(&r, cgroup_root, reply_fd, request_fd);
      /* G: the zygote's loop is over for this process. */
      memset(&r, 0, sizeof r);
      Py_RETURN_NONE;
    }
    PyOS_AfterFork_Parent();
    explicit_bzero(request_bytes, sizeof request_bytes);
    if (c < 0) fail("zygote: fork: %s", strerror(errno));
    int st = 0;
    while (waitpid(c, &st, 0) < 0)
      if (errno != EINTR) fail("zygote: waitpid: %s", strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
      write_all(reply_fd, "ok\n", 3);
    } else if (!(WIFEXITED(st) && WEXITSTATUS(st) == 127)) { /* 127: C wrote its "E" line */
      char line[96];
      int n = snprintf(line, sizeof line, "Ezygote: the injecting process ended (status %d)\n", st);
      write_all(reply_fd, line, (size_t)n);
    }
  }
}

static PyMethodDef methods[] = {
    {"serve", serve, METH_VARARGS, "serve(request_fd, reply_fd, cgroup_root_fd, seccomp_fd, proc_fd): cylo's zygote loop; returns only in an injected runtime."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_cylo_zygote", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__cylo_zygote(void) {
  return PyModule_Create(&module);
}
