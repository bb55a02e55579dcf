/*
 * zygote.c: the Python zygote (issue 19; docs/security.md "The Python zygote"), a CPython
 * extension module, _cylo_zygote, loaded only by the pre-start stub of a zygote process: the
 * module, its loop and C, the root side of an injection. The request is request.c, PID 1's
 * verification pid1.c, G's layers runtime.c (zygote.h lists what they share).
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
#include "zygote.h"

/* Declared, with what each holds, in zygote.h. */
char request_bytes[MAX_REQUEST + 1];
int proc_fd = -1;
char proc_text[4096];
struct sock_filter *seccomp_filter;
unsigned short seccomp_len;

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
