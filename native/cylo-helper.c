/*
 * cylo-helper: the two steps of a cylo sandbox that Node.js cannot perform itself.
 *
 * Node can only spawn(); it cannot run code between fork and exec. Two things must happen
 * exactly there, so this small program does them and then exec()s the next stage:
 *
 *   cylo-helper outer ...  -- bwrap ARGV   (runs as root, on the host, before bubblewrap)
 *       1. joins the execution's cgroups (so not a single fork escapes the memory/pids limits),
 *       2. opens the trees to bind as O_PATH fds while it is still root (bwrap --ro-bind-fd:
 *          runtimes under /root or other 0700 parents stay usable without widening host perms),
 *       3. drops to the execution's unprivileged uid/gid (setgroups, setresgid, setresuid),
 *       4. exec()s bubblewrap.
 *
 *   cylo-helper inner ...  -- PROGRAM ARGV (PID 1 inside the sandbox, after bwrap's seccomp)
 *       1. unpacks the request's files from a pipe into the fresh tmpfs workspace,
 *       2. forks the program; in the child: sets the rlimits, applies Landlock with the ABI the
 *          running kernel offers, marks every fd above 2 close-on-exec and exec()s the program,
 *       3. as PID 1, reaps orphans until the program exits, then reports its exact status.
 *
 * Both modes report through a status fd (--status-fd): "E<message>\n" on failure, "R\n" right
 * before the exec of the user program (its wall clock starts there), "X <code> <signal>\n" when
 * it has exited (bubblewrap's own exit code folds signals into 128+n; this does not).
 *
 * Written by hand because no library does "apply Landlock between fork and exec" for Node; the
 * same approach is used by OpenAI Codex and Anthropic's sandbox-runtime.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

/* Landlock constants, defined here so that building does not depend on how new the installed
 * kernel headers are (the kernel we run on may know more ABIs than the headers). */
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif
#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1

#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_REMOVE_DIR (1ULL << 4)
#define LL_FS_REMOVE_FILE (1ULL << 5)
#define LL_FS_MAKE_CHAR (1ULL << 6)
#define LL_FS_MAKE_DIR (1ULL << 7)
#define LL_FS_MAKE_REG (1ULL << 8)
#define LL_FS_MAKE_SOCK (1ULL << 9)
#define LL_FS_MAKE_FIFO (1ULL << 10)
#define LL_FS_MAKE_BLOCK (1ULL << 11)
#define LL_FS_MAKE_SYM (1ULL << 12)
#define LL_FS_REFER (1ULL << 13)    /* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0)    /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1) /* ABI 4 */
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)               /* ABI 6 */

struct ll_ruleset_attr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

struct ll_path_beneath_attr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));

/* Rights that Landlock accepts on a rule whose target is a file rather than a directory. */
#define LL_FILE_RIGHTS (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

static int status_fd = -1;

/* Report a setup failure on the status fd (and stderr when there is none), then exit 127. */
static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (status_fd >= 0) {
    char line[1100];
    int n = snprintf(line, sizeof line, "E%s\n", msg);
    if (n > 0 && write(status_fd, line, (size_t)n) < 0) { /* nothing more we can do */ }
  } else {
    fprintf(stderr, "cylo-helper: %s\n", msg);
  }
  _exit(127);
}

static long long parse_num(const char *s, const char *what) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') fail("bad number for %s: %s", what, s);
  return v;
}

static void write_all(int fd, const char *buf, size_t len) {
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

/* ------------------------------------------------------------------------------------------ */
/* outer mode                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static int run_outer(int argc, char **argv) {
  long long uid = -1, gid = -1;
  int i = 0;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) { i++; break; }
    if (i + 1 >= argc) fail("option %s needs a value", a);
    const char *v = argv[++i];
    if (strcmp(a, "--status-fd") == 0) {
      /* Left inheritable: bubblewrap passes it on to the inner helper. */
      status_fd = (int)parse_num(v, a);
    } else if (strcmp(a, "--uid") == 0) {
      uid = parse_num(v, a);
    } else if (strcmp(a, "--gid") == 0) {
      gid = parse_num(v, a);
    } else if (strcmp(a, "--cgroup-procs") == 0) {
      /* Join the cgroup before anything else runs: every later fork is inside the limits. */
      int fd = open(v, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) fail("cgroup: cannot open %s: %s", v, strerror(errno));
      char pid[32];
      int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
      if (write(fd, pid, (size_t)n) != n) fail("cgroup: cannot join %s: %s", v, strerror(errno));
      close(fd);
    } else if (strcmp(a, "--open-fd") == 0) {
      /* N:PATH - open PATH as O_PATH while still root and place it at fd N for bwrap --*-bind-fd. */
      char *colon = strchr(v, ':');
      if (colon == NULL) fail("--open-fd wants N:PATH, got %s", v);
      *colon = '\0';
      int want = (int)parse_num(v, a);
      if (want < 3) fail("--open-fd target must be >= 3");
      int fd = open(colon + 1, O_PATH | O_CLOEXEC);
      if (fd < 0) fail("cannot open %s: %s", colon + 1, strerror(errno));
      if (fd != want) {
        if (dup2(fd, want) < 0) fail("dup2: %s", strerror(errno));
        close(fd);
      } else if (fcntl(fd, F_SETFD, 0) < 0) {
        fail("fcntl: %s", strerror(errno));
      }
    } else {
      fail("unknown outer option %s", a);
    }
  }
  if (i >= argc) fail("outer: missing -- and the bubblewrap argv");
  if (uid <= 0 || gid <= 0) fail("outer: --uid and --gid must be unprivileged (> 0)");

  /* Drop to the execution's own unprivileged identity: the sandbox never runs as host root. */
  if (setgroups(0, NULL) < 0) fail("identity: setgroups: %s (cylo must start as root)", strerror(errno));
  if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) < 0) fail("identity: setresgid: %s", strerror(errno));
  if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0) fail("identity: setresuid: %s", strerror(errno));
  if (getuid() != (uid_t)uid || geteuid() != (uid_t)uid || setuid(0) == 0) fail("identity: could not drop root");

  execv(argv[i], &argv[i]);
  fail("cannot execute %s: %s", argv[i], strerror(errno));
}

/* ------------------------------------------------------------------------------------------ */
/* inner mode                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void read_exact(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("workspace: reading files: %s", strerror(errno));
    if (n == 0) fail("workspace: file bundle ended early");
    p += n;
    len -= (size_t)n;
  }
}

/* Create the parent directories of NAME under dirfd, refusing any component that is empty,
 * "." or "..". Returns an fd for the parent directory and sets *base to the last component. */
static int open_parent(int rootfd, char *name, char **base) {
  int dirfd = dup(rootfd);
  if (dirfd < 0) fail("workspace: dup: %s", strerror(errno));
  char *p = name;
  for (;;) {
    char *slash = strchr(p, '/');
    if (*p == '\0' || strncmp(p, ".", slash ? (size_t)(slash - p) : strlen(p)) == 0 ||
        strncmp(p, "..", slash ? (size_t)(slash - p) : strlen(p)) == 0) {
      size_t len = slash ? (size_t)(slash - p) : strlen(p);
      if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
        fail("workspace: refusing file name component in %s", name);
    }
    if (slash == NULL) break;
    *slash = '\0';
    if (mkdirat(dirfd, p, 0755) < 0 && errno != EEXIST) fail("workspace: mkdir %s: %s", p, strerror(errno));
    int next = openat(dirfd, p, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_RDONLY);
    if (next < 0) fail("workspace: open dir %s: %s", p, strerror(errno));
    close(dirfd);
    dirfd = next;
    *slash = '/';
    p = slash + 1;
  }
  *base = p;
  return dirfd;
}

/* Bundle format (little-endian), written by src/sandbox/file-bundle.ts:
 *   repeated { u32 name_len; u32 mode; u64 size; name bytes; content bytes }, ended by name_len 0. */
static void unpack_bundle(int fd, const char *workdir) {
  int rootfd = open(workdir, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_RDONLY);
  if (rootfd < 0) fail("workspace: open %s: %s", workdir, strerror(errno));
  static char buf[1 << 16];
  for (;;) {
    unsigned char hdr[16];
    read_exact(fd, hdr, sizeof hdr);
    uint32_t name_len = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
    uint32_t mode = (uint32_t)hdr[4] | (uint32_t)hdr[5] << 8 | (uint32_t)hdr[6] << 16 | (uint32_t)hdr[7] << 24;
    uint64_t size = 0;
    for (int b = 7; b >= 0; b--) size = (size << 8) | hdr[8 + b];
    if (name_len == 0) break;
    if (name_len >= PATH_MAX) fail("workspace: file name too long");
    char name[PATH_MAX];
    read_exact(fd, name, name_len);
    name[name_len] = '\0';
    if (name[0] == '/' || memchr(name, '\0', name_len) != NULL) fail("workspace: bad file name");
    char *base = NULL;
    int dirfd = open_parent(rootfd, name, &base);
    /* O_EXCL|O_NOFOLLOW: never write through a link or over an existing file. */
    int out = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)(mode & 0755));
    if (out < 0) fail("workspace: create %s: %s", name, strerror(errno));
    while (size > 0) {
      size_t chunk = size < sizeof buf ? (size_t)size : sizeof buf;
      read_exact(fd, buf, chunk);
      ssize_t off = 0;
      while ((size_t)off < chunk) {
        ssize_t n = write(out, buf + off, chunk - (size_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("workspace: writing %s: %s (is the workspace limit too small?)", name, strerror(errno));
        off += n;
      }
      size -= chunk;
    }
    close(out);
    close(dirfd);
  }
  close(rootfd);
}

static int rlimit_by_name(const char *name) {
  if (strcmp(name, "core") == 0) return RLIMIT_CORE;
  if (strcmp(name, "fsize") == 0) return RLIMIT_FSIZE;
  if (strcmp(name, "nofile") == 0) return RLIMIT_NOFILE;
  if (strcmp(name, "stack") == 0) return RLIMIT_STACK;
  if (strcmp(name, "nproc") == 0) return RLIMIT_NPROC;
  if (strcmp(name, "cpu") == 0) return RLIMIT_CPU;
  if (strcmp(name, "memlock") == 0) return RLIMIT_MEMLOCK;
  if (strcmp(name, "msgqueue") == 0) return RLIMIT_MSGQUEUE;
  fail("unknown rlimit %s", name);
}

#define MAX_RULES 64
struct rule {
  const char *path;
  uint64_t access;
};

static void add_rule(int ruleset, const struct rule *r, uint64_t handled) {
  int fd = open(r->path, O_PATH | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return; /* optional tree not present in this sandbox: nothing to allow */
    fail("landlock: open %s: %s", r->path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) < 0) fail("landlock: stat %s: %s", r->path, strerror(errno));
  struct ll_path_beneath_attr attr = {.allowed_access = r->access & handled, .parent_fd = fd};
  if (!S_ISDIR(st.st_mode)) attr.allowed_access &= LL_FILE_RIGHTS;
  if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &attr, 0) < 0)
    fail("landlock: add rule for %s: %s", r->path, strerror(errno));
  close(fd);
}

static void apply_landlock(struct rule *rules, int nrules, int scope) {
  long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
  if (abi < 1)
    fail("landlock: not available on this kernel (%s); boot with lsm=...,landlock or relax the "
         "\"landlock\" layer in the configuration", strerror(errno));
  /* Handle every filesystem right this ABI knows: anything not granted below is denied. */
  uint64_t fs = LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_READ_DIR | LL_FS_REMOVE_DIR |
                LL_FS_REMOVE_FILE | LL_FS_MAKE_CHAR | LL_FS_MAKE_DIR | LL_FS_MAKE_REG | LL_FS_MAKE_SOCK |
                LL_FS_MAKE_FIFO | LL_FS_MAKE_BLOCK | LL_FS_MAKE_SYM;
  if (abi >= 2) fs |= LL_FS_REFER;    /* stops renaming/linking files across the allowed trees */
  if (abi >= 3) fs |= LL_FS_TRUNCATE; /* stops truncating files outside the workspace */
  if (abi >= 5) fs |= LL_FS_IOCTL_DEV; /* stops device ioctls except on allowed device files */
  struct ll_ruleset_attr attr = {.handled_access_fs = fs};
  size_t size = sizeof(uint64_t);
  if (abi >= 4) {
    /* No TCP rule is added, so every TCP bind/connect is denied (network is off). */
    attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
    size = 2 * sizeof(uint64_t);
  }
  if (abi >= 6 && scope) {
    /* Stops signalling processes outside the sandbox and reaching host abstract unix sockets. */
    attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
    size = 3 * sizeof(uint64_t);
  }
  int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
  if (ruleset < 0) fail("landlock: create ruleset (ABI %ld): %s", abi, strerror(errno));
  for (int i = 0; i < nrules; i++) add_rule(ruleset, &rules[i], fs);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("no_new_privs: %s", strerror(errno));
  if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) fail("landlock: restrict_self: %s", strerror(errno));
  close(ruleset);
}

#define MAX_RLIMITS 16
struct limit {
  int resource;
  struct rlimit value;
};

static int run_inner(int argc, char **argv) {
  struct rule rules[MAX_RULES];
  struct limit rlimits[MAX_RLIMITS];
  int nrlimits = 0;
  int nrules = 0, bundle_fd = -1, landlock = 1, scope = 1;
  const char *workdir = "/work";
  const char *mkdirs[8];
  int nmkdirs = 0;
  int i = 0;
  const uint64_t ro = LL_FS_READ_FILE | LL_FS_READ_DIR;
  const uint64_t rx = ro | LL_FS_EXECUTE;
  const uint64_t dev = ro | LL_FS_WRITE_FILE | LL_FS_IOCTL_DEV;
  const uint64_t rw = rx | LL_FS_WRITE_FILE | LL_FS_REMOVE_DIR | LL_FS_REMOVE_FILE | LL_FS_MAKE_DIR |
                      LL_FS_MAKE_REG | LL_FS_MAKE_SOCK | LL_FS_MAKE_FIFO | LL_FS_MAKE_SYM | LL_FS_REFER |
                      LL_FS_TRUNCATE;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) { i++; break; }
    if (i + 1 >= argc) fail("option %s needs a value", a);
    char *v = argv[++i];
    if (strcmp(a, "--status-fd") == 0) {
      status_fd = (int)parse_num(v, a);
      if (fcntl(status_fd, F_SETFD, FD_CLOEXEC) < 0) fail("status fd: %s", strerror(errno));
    } else if (strcmp(a, "--bundle-fd") == 0) {
      bundle_fd = (int)parse_num(v, a);
    } else if (strcmp(a, "--workdir") == 0) {
      workdir = v;
    } else if (strcmp(a, "--mkdir") == 0) {
      if (nmkdirs >= 8) fail("too many --mkdir");
      mkdirs[nmkdirs++] = v;
    } else if (strcmp(a, "--rlimit") == 0) {
      char *eq = strchr(v, '=');
      if (eq == NULL) fail("--rlimit wants NAME=VALUE");
      *eq = '\0';
      if (nrlimits >= MAX_RLIMITS) fail("too many --rlimit");
      rlimits[nrlimits].resource = rlimit_by_name(v);
      rlimits[nrlimits].value.rlim_cur = rlimits[nrlimits].value.rlim_max = (rlim_t)parse_num(eq + 1, v);
      nrlimits++;
    } else if (strcmp(a, "--ro") == 0 || strcmp(a, "--rx") == 0 || strcmp(a, "--rw") == 0 ||
               strcmp(a, "--dev") == 0) {
      if (nrules >= MAX_RULES) fail("too many landlock rules");
      rules[nrules].path = v;
      rules[nrules].access = a[2] == 'd' ? dev : strcmp(a, "--ro") == 0 ? ro : strcmp(a, "--rx") == 0 ? rx : rw;
      nrules++;
    } else if (strcmp(a, "--landlock") == 0) {
      landlock = strcmp(v, "off") != 0;
      scope = strcmp(v, "noscope") != 0;
    } else {
      fail("unknown inner option %s", a);
    }
  }
  if (i >= argc) fail("inner: missing -- and the program argv");

  /* Files arrive through a pipe and are written by the sandbox's own identity into its own fresh
   * tmpfs: the host never writes into a place that untrusted code can reach. */
  for (int d = 0; d < nmkdirs; d++)
    if (mkdir(mkdirs[d], 0755) < 0 && errno != EEXIST) fail("workspace: mkdir %s: %s", mkdirs[d], strerror(errno));
  if (bundle_fd >= 0) {
    unpack_bundle(bundle_fd, workdir);
    close(bundle_fd);
  }

  /* This process is PID 1 of the sandbox's PID namespace (bwrap --as-pid-1). It forks the
   * program, reaps orphans, and reports the program's exact exit status; when it exits, the
   * kernel kills every process left in the namespace, so nothing the program started survives. */
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t child = fork();
  if (child < 0) fail("fork: %s", strerror(errno));
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    for (int r = 0; r < nrlimits; r++)
      if (setrlimit(rlimits[r].resource, &rlimits[r].value) < 0) fail("rlimit: %s", strerror(errno));
    if (landlock) apply_landlock(rules, nrules, scope);
    /* Only fds 0-2 reach the program: everything else (bwrap's, the bundle, inherited) closes. */
    if (syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) < 0) {
      for (int fd = 3; fd < 65536; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    if (status_fd >= 0) write_all(status_fd, "R\n", 2);
    execv(argv[i], &argv[i]);
    fail("cannot execute %s: %s", argv[i], strerror(errno));
  }
  /* The supervisor is not dumpable, so the program (same uid) cannot open /proc/1/mem or fds. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  for (int fd = 3; fd < 1024; fd++)
    if (fd != status_fd) close(fd);
  close(0);
  for (;;) {
    int st = 0;
    pid_t got = waitpid(-1, &st, __WALL);
    if (got < 0) {
      if (errno == EINTR) continue;
      fail("wait: %s", strerror(errno));
    }
    if (got != child) continue; /* an orphan re-parented to us: reaped, keep waiting */
    char line[64];
    int n = WIFSIGNALED(st) ? snprintf(line, sizeof line, "X %d %d\n", -1, WTERMSIG(st))
                            : snprintf(line, sizeof line, "X %d %d\n", WEXITSTATUS(st), 0);
    if (status_fd >= 0) write_all(status_fd, line, (size_t)n);
    _exit(WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st));
  }
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "outer") == 0) return run_outer(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "inner") == 0) return run_inner(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "landlock-abi") == 0) {
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
    printf("%ld\n", abi < 0 ? 0 : abi);
    return 0;
  }
  fprintf(stderr, "usage: cylo-helper outer|inner|landlock-abi ...\n");
  return 2;
}
