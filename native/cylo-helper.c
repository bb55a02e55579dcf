/*
 * cylo-helper: the two steps of a cylo sandbox that Node.js cannot perform itself.
 *
 * Node can only spawn(); it cannot run code between fork and exec. Two things must happen
 * exactly there, so this small program does them and then exec()s the next stage:
 *
 *   cylo-helper outer ...  -- bwrap ARGV   (runs as root, on the host, before bubblewrap)
 *       1. joins the execution's cgroups (so not a single fork escapes the memory/pids limits),
 *       2. opens the trees to bind as O_PATH fds while it is still root (bwrap --ro-bind-fd:
 *          runtimes under /root or other 0700 parents stay usable without widening host perms);
 *          bubblewrap re-resolves such an fd by its path as the unprivileged uid, so in a private
 *          mount namespace a 0755 tmpfs is laid over the blocking parent (e.g. /root) with only
 *          those trees bound back at their own paths (the host's mount table is untouched),
 *       3. drops to the execution's unprivileged uid/gid (setgroups, setresgid, setresuid),
 *       4. exec()s bubblewrap.
 *
 *   cylo-helper inner ...                  (PID 1 inside the sandbox, after bwrap's seccomp)
 *       1. waits for the job (program argv, environment, rlimits) on the bundle pipe, so that a
 *          sandbox can be started before its request arrives, then unpacks the request's files
 *          from the same pipe into the fresh tmpfs workspace,
 *       2. forks the program; in the child: sets the rlimits, applies Landlock with the ABI the
 *          running kernel offers, marks every fd above 2 close-on-exec and exec()s the program,
 *       3. as PID 1, reaps orphans until the program exits, then reports its exact status,
 *       4. with --emit (compile stages): when the program exited 0, kills whatever it left
 *          running and streams the artifact files back out of the sandbox through a pipe, in
 *          the same bundle format, never following a link (the host never reads the sandbox's
 *          filesystem itself).
 *
 * Both modes report through a status fd (--status-fd): "E<message>\n" on failure, "R\n" right
 * before the exec of the user program (its wall clock starts there), "X <code> <signal>\n" when
 * it has exited (bubblewrap's own exit code folds signals into 128+n; this does not), and
 * "A<message>\n" before it when the artifact could not be emitted.
 *
 * Written by hand because no library does "apply Landlock between fork and exec" for Node; the
 * same approach is used by OpenAI Codex and Anthropic's sandbox-runtime.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
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

#define MAX_OPEN_FDS 32
struct opened {
  char path[PATH_MAX];
  int fd;
};

/* The first ancestor directory of PATH (itself excluded) that others cannot search, copied into
 * OUT; returns 0 when every ancestor is searchable (then nothing needs revealing). */
static int hidden_ancestor(const char *path, char *out, size_t out_len) {
  char buf[PATH_MAX];
  if (strlen(path) >= sizeof buf) fail("path too long: %s", path);
  strcpy(buf, path);
  for (char *slash = strchr(buf + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
    *slash = '\0';
    struct stat st;
    if (stat(buf, &st) < 0) fail("cannot stat %s: %s", buf, strerror(errno));
    if ((st.st_mode & S_IXOTH) == 0) {
      snprintf(out, out_len, "%s", buf);
      return 1;
    }
    *slash = '/';
  }
  return 0;
}

/* mkdir -p of PATH (absolute) with mode 0755; the components already exist up to the tmpfs. */
static void mkdir_p(const char *path) {
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *slash = strchr(buf + 1, '/');; slash = strchr(slash + 1, '/')) {
    if (slash != NULL) *slash = '\0';
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) fail("reveal: mkdir %s: %s", buf, strerror(errno));
    if (slash == NULL) break;
    *slash = '/';
  }
}

/* Enters a private mount namespace (once). Done before the first hidden tree is opened, so its
 * O_PATH fd belongs to this namespace and can be the source of a bind mount. */
static void private_mount_namespace(void) {
  static int done = 0;
  if (done) return;
  if (unshare(CLONE_NEWNS) < 0) fail("reveal: unshare(CLONE_NEWNS): %s", strerror(errno));
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail("reveal: make / private: %s", strerror(errno));
  done = 1;
}

/* Makes every opened tree reachable at its own path for an unprivileged uid, in the private mount
 * namespace: a fresh 0755 tmpfs over each blocking ancestor, the trees bound back through their
 * O_PATH fds (so what is bound is exactly what was opened as root). */
static void reveal_hidden_trees(struct opened *open_fds, int n) {
  char hidden[MAX_OPEN_FDS][PATH_MAX];
  int nhidden = 0;
  for (int k = 0; k < n; k++) {
    char anc[PATH_MAX];
    if (!hidden_ancestor(open_fds[k].path, anc, sizeof anc)) continue;
    int seen = 0;
    for (int h = 0; h < nhidden; h++) {
      size_t len = strlen(hidden[h]);
      if (strcmp(hidden[h], anc) == 0 || (strncmp(anc, hidden[h], len) == 0 && anc[len] == '/')) seen = 1;
    }
    if (!seen) {
      if (mount("cylo-reveal", anc, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m") < 0)
        fail("reveal: tmpfs over %s: %s", anc, strerror(errno));
      snprintf(hidden[nhidden++], PATH_MAX, "%s", anc);
    }
    char source[64];
    snprintf(source, sizeof source, "/proc/self/fd/%d", open_fds[k].fd);
    struct stat st;
    if (fstat(open_fds[k].fd, &st) < 0) fail("reveal: fstat: %s", strerror(errno));
    if (S_ISDIR(st.st_mode)) {
      mkdir_p(open_fds[k].path);
    } else {
      char parent[PATH_MAX];
      size_t plen = strnlen(open_fds[k].path, PATH_MAX);
      if (plen >= sizeof parent) fail("reveal: path too long");
      memcpy(parent, open_fds[k].path, plen + 1);
      char *slash = strrchr(parent, '/');
      if (slash != NULL && slash != parent) {
        *slash = '\0';
        mkdir_p(parent);
      }
      int f = open(open_fds[k].path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (f < 0) fail("reveal: create %s: %s", open_fds[k].path, strerror(errno));
      close(f);
    }
    if (mount(source, open_fds[k].path, NULL, MS_BIND | MS_REC, NULL) < 0)
      fail("reveal: bind %s: %s", open_fds[k].path, strerror(errno));
  }
}

static int run_outer(int argc, char **argv) {
  long long uid = -1, gid = -1;
  static struct opened open_fds[MAX_OPEN_FDS];
  int nopen = 0;
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
      if (nopen >= MAX_OPEN_FDS) fail("too many --open-fd");
      if (colon[1] != '/' || strlen(colon + 1) >= PATH_MAX) fail("--open-fd wants an absolute path, got %s", colon + 1);
      char anc[PATH_MAX];
      if (hidden_ancestor(colon + 1, anc, sizeof anc)) private_mount_namespace();
      int fd = open(colon + 1, O_PATH | O_CLOEXEC);
      if (fd < 0) fail("cannot open %s: %s", colon + 1, strerror(errno));
      snprintf(open_fds[nopen].path, PATH_MAX, "%s", colon + 1);
      open_fds[nopen].fd = want;
      nopen++;
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
  reveal_hidden_trees(open_fds, nopen);

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

/* ------------------------------------------------------------------------------------------ */
/* artifact emission (compile stages)                                                          */
/* ------------------------------------------------------------------------------------------ */

/* Artifacts leave the sandbox the way sources enter it: as a bundle on a pipe, written by PID 1
 * (not under Landlock, not dumpable, not reachable by the program) after every other process of
 * the sandbox is dead. Only regular files and directories are emitted; a symlink, FIFO, socket
 * or device anywhere in an artifact path refuses the whole artifact. Every component is opened
 * relative to the workspace with O_NOFOLLOW, so nothing outside the workspace is ever read. */

struct emitter {
  int fd;
  unsigned long long max;  /* total bytes allowed (headers, names and contents) */
  unsigned long long used;
  unsigned long files;
  char error[512];
};

#define EMIT_MAX_DEPTH 64
#define EMIT_MAX_FILES 100000UL

static int emit_error(struct emitter *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int emit_error(struct emitter *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->error, sizeof e->error, fmt, ap);
  va_end(ap);
  return -1;
}

static int emit_write(struct emitter *e, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(e->fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return emit_error(e, "writing the artifact: %s", strerror(errno));
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static void put_u32(unsigned char *p, uint32_t v) {
  for (int b = 0; b < 4; b++) p[b] = (unsigned char)(v >> (8 * b));
}

static void put_u64(unsigned char *p, uint64_t v) {
  for (int b = 0; b < 8; b++) p[b] = (unsigned char)(v >> (8 * b));
}

/* Emits the regular file open at fd (already fstat'ed into st) under NAME. */
static int emit_file(struct emitter *e, int fd, const struct stat *st, const char *name) {
  size_t name_len = strlen(name);
  unsigned long long need = 16ULL + name_len + (unsigned long long)st->st_size;
  if (++e->files > EMIT_MAX_FILES) return emit_error(e, "the artifact has more than %lu files", EMIT_MAX_FILES);
  if (e->used + need > e->max) return emit_error(e, "the artifact is larger than %llu bytes", e->max);
  e->used += need;
  unsigned char hdr[16];
  put_u32(hdr, (uint32_t)name_len);
  put_u32(hdr + 4, (uint32_t)(st->st_mode & 0755));
  put_u64(hdr + 8, (uint64_t)st->st_size);
  if (emit_write(e, hdr, sizeof hdr) < 0 || emit_write(e, name, name_len) < 0) return -1;
  static char buf[1 << 16];
  off_t left = st->st_size;
  while (left > 0) {
    size_t want = left < (off_t)sizeof buf ? (size_t)left : sizeof buf;
    ssize_t n = read(fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return emit_error(e, "reading %s: %s", name, strerror(errno));
    if (n == 0) return emit_error(e, "%s shrank while being read", name);
    if (emit_write(e, buf, (size_t)n) < 0) return -1;
    left -= n;
  }
  return 0;
}

/* Opens NAME under dirfd without following a link and checks it is a file or a directory. */
static int emit_open(struct emitter *e, int dirfd, const char *leaf, const char *name, struct stat *st) {
  struct stat before;
  if (fstatat(dirfd, leaf, &before, AT_SYMLINK_NOFOLLOW) < 0) return emit_error(e, "%s: %s", name, strerror(errno));
  if (!S_ISREG(before.st_mode) && !S_ISDIR(before.st_mode))
    return emit_error(e, "%s is not a regular file or directory (links, devices, FIFOs and sockets are refused)", name);
  int fd = openat(dirfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (S_ISDIR(before.st_mode) ? O_DIRECTORY : 0));
  if (fd < 0) return emit_error(e, "%s: %s", name, strerror(errno));
  if (fstat(fd, st) < 0 || st->st_dev != before.st_dev || st->st_ino != before.st_ino) {
    close(fd);
    return emit_error(e, "%s changed while being emitted", name);
  }
  return fd;
}

static int emit_tree(struct emitter *e, int fd, const struct stat *st, char *name, size_t name_len, int depth) {
  if (S_ISREG(st->st_mode)) return emit_file(e, fd, st, name);
  if (depth > EMIT_MAX_DEPTH) return emit_error(e, "%s: directories nested deeper than %d", name, EMIT_MAX_DEPTH);
  int listfd = dup(fd);
  if (listfd < 0) return emit_error(e, "dup: %s", strerror(errno));
  DIR *dir = fdopendir(listfd);
  if (dir == NULL) {
    close(listfd);
    return emit_error(e, "%s: %s", name, strerror(errno));
  }
  int rc = 0;
  struct dirent *d;
  while (rc == 0 && (errno = 0, d = readdir(dir)) != NULL) {
    if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0) continue;
    size_t leaf_len = strlen(d->d_name);
    if (name_len + 1 + leaf_len >= PATH_MAX) {
      rc = emit_error(e, "%s/%s: path too long", name, d->d_name);
      break;
    }
    name[name_len] = '/';
    memcpy(name + name_len + 1, d->d_name, leaf_len + 1);
    struct stat cst;
    int cfd = emit_open(e, fd, d->d_name, name, &cst);
    if (cfd < 0) {
      rc = -1;
    } else {
      rc = emit_tree(e, cfd, &cst, name, name_len + 1 + leaf_len, depth + 1);
      close(cfd);
    }
    name[name_len] = '\0';
  }
  if (rc == 0 && errno != 0) rc = emit_error(e, "listing %s: %s", name, strerror(errno));
  closedir(dir);
  return rc;
}

/* Emits PATH (relative to the workspace; a file or a directory) into the bundle. */
static int emit_path(struct emitter *e, int rootfd, const char *path) {
  char name[PATH_MAX];
  if (strlen(path) >= sizeof name) return emit_error(e, "artifact path too long");
  strcpy(name, path);
  int dirfd = dup(rootfd);
  if (dirfd < 0) return emit_error(e, "dup: %s", strerror(errno));
  /* Walk the parent components one by one, each a real directory (never a link). */
  char *p = name;
  for (;;) {
    char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
      close(dirfd);
      return emit_error(e, "bad artifact path %s", path);
    }
    if (slash == NULL) break;
    *slash = '\0';
    int next = openat(dirfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    *slash = '/';
    if (next < 0) {
      close(dirfd);
      return emit_error(e, "%s: %s", path, errno == ELOOP || errno == ENOTDIR ? "a parent is not a directory" : strerror(errno));
    }
    close(dirfd);
    dirfd = next;
    p = slash + 1;
  }
  struct stat st;
  int fd = emit_open(e, dirfd, p, path, &st);
  close(dirfd);
  if (fd < 0) return -1;
  int rc = emit_tree(e, fd, &st, name, strlen(name), 0);
  close(fd);
  return rc;
}

/* Kills every other process of the sandbox (PID 1 of the namespace may) and reaps them, so the
 * workspace cannot change while it is being read. */
static void kill_the_rest(void) {
  kill(-1, SIGKILL);
  for (;;) {
    int st;
    pid_t got = waitpid(-1, &st, __WALL);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break; /* ECHILD: nothing left */
  }
}

static int emit_artifacts(const char *workdir, int fd, unsigned long long max, const char **paths, int npaths, char *error, size_t error_len) {
  struct emitter e = {.fd = fd, .max = max, .used = 0, .files = 0, .error = {0}};
  int rootfd = open(workdir, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_RDONLY);
  int rc = rootfd < 0 ? emit_error(&e, "open %s: %s", workdir, strerror(errno)) : 0;
  for (int k = 0; rc == 0 && k < npaths; k++) rc = emit_path(&e, rootfd, paths[k]);
  if (rootfd >= 0) close(rootfd);
  if (rc == 0) {
    unsigned char end[16] = {0};
    rc = emit_write(&e, end, sizeof end);
  }
  if (rc < 0) snprintf(error, error_len, "%s", e.error);
  return rc;
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

/* ------------------------------------------------------------------------------------------ */
/* the job (inner mode)                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* What to run arrives on the bundle pipe, before the files, rather than on the command line: a
 * sandbox can then be started ahead of time (bubblewrap's few milliseconds off the request's
 * path) and wait here for its job. Written by encodeJob in src/sandbox/file-bundle.ts:
 *   "CYJ1", then three lists (argv, environment "K=V", rlimits "name=value"), each
 *   u32 count followed by count x { u32 len; bytes }. */
#define JOB_MAX_ITEMS 4096
#define JOB_MAX_BYTES (8U << 20)

static uint32_t read_u32(int fd) {
  unsigned char b[4];
  read_exact(fd, b, 4);
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static char **read_list(int fd, size_t *total) {
  uint32_t n = read_u32(fd);
  if (n > JOB_MAX_ITEMS) fail("job: too many items (%u)", n);
  char **list = calloc((size_t)n + 1, sizeof *list);
  if (list == NULL) fail("job: out of memory");
  for (uint32_t k = 0; k < n; k++) {
    uint32_t len = read_u32(fd);
    *total += len;
    if (*total > JOB_MAX_BYTES) fail("job: larger than %u bytes", JOB_MAX_BYTES);
    list[k] = malloc((size_t)len + 1);
    if (list[k] == NULL) fail("job: out of memory");
    read_exact(fd, list[k], len);
    list[k][len] = '\0';
    if (memchr(list[k], '\0', len) != NULL) fail("job: NUL inside an item");
  }
  return list;
}

struct job {
  char **argv;
  char **env;
};

static struct job read_job(int fd, struct limit *rlimits, int *nrlimits) {
  char magic[4];
  read_exact(fd, magic, 4);
  if (memcmp(magic, "CYJ1", 4) != 0) fail("job: bad header");
  size_t total = 0;
  struct job job;
  job.argv = read_list(fd, &total);
  job.env = read_list(fd, &total);
  char **limits = read_list(fd, &total);
  if (job.argv[0] == NULL || job.argv[0][0] != '/') fail("job: the program must be an absolute path");
  for (char **l = limits; *l != NULL; l++) {
    char *eq = strchr(*l, '=');
    if (eq == NULL) fail("job: rlimit wants NAME=VALUE");
    *eq = '\0';
    if (*nrlimits >= MAX_RLIMITS) fail("too many rlimits");
    rlimits[*nrlimits].resource = rlimit_by_name(*l);
    rlimits[*nrlimits].value.rlim_cur = rlimits[*nrlimits].value.rlim_max = (rlim_t)parse_num(eq + 1, *l);
    (*nrlimits)++;
  }
  return job;
}

static int run_inner(int argc, char **argv) {
  struct rule rules[MAX_RULES];
  struct limit rlimits[MAX_RLIMITS];
  int nrlimits = 0;
  int nrules = 0, bundle_fd = -1, landlock = 1, scope = 1;
  const char *workdir = "/work";
  const char *mkdirs[8];
  int nmkdirs = 0;
  const char *emits[16];
  int nemits = 0, emit_fd = -1;
  unsigned long long emit_max = 64ULL << 20;
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
    } else if (strcmp(a, "--emit-fd") == 0) {
      emit_fd = (int)parse_num(v, a);
      if (emit_fd < 3 || fcntl(emit_fd, F_SETFD, FD_CLOEXEC) < 0) fail("emit fd %s: not an open descriptor", v);
    } else if (strcmp(a, "--emit") == 0) {
      if (nemits >= 16) fail("too many --emit");
      emits[nemits++] = v;
    } else if (strcmp(a, "--emit-max") == 0) {
      long long m = parse_num(v, a);
      if (m <= 0) fail("--emit-max must be positive");
      emit_max = (unsigned long long)m;
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
  (void)i;
  if (nemits > 0 && emit_fd < 0) fail("--emit needs --emit-fd");
  if (bundle_fd < 0) fail("inner: --bundle-fd is required (the job arrives there)");

  /* Wait for the job: this is where a sandbox started ahead of time sits until it is used. */
  struct job job = read_job(bundle_fd, rlimits, &nrlimits);

  /* Files arrive through a pipe and are written by the sandbox's own identity into its own fresh
   * tmpfs: the host never writes into a place that untrusted code can reach. */
  for (int d = 0; d < nmkdirs; d++)
    if (mkdir(mkdirs[d], 0755) < 0 && errno != EEXIST) fail("workspace: mkdir %s: %s", mkdirs[d], strerror(errno));
  unpack_bundle(bundle_fd, workdir);
  close(bundle_fd);

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
    execve(job.argv[0], job.argv, job.env);
    fail("cannot execute %s: %s", job.argv[0], strerror(errno));
  }
  /* The supervisor is not dumpable, so the program (same uid) cannot open /proc/1/mem or fds. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  for (int fd = 3; fd < 1024; fd++)
    if (fd != status_fd && fd != emit_fd) close(fd);
  close(0);
  for (;;) {
    int st = 0;
    pid_t got = waitpid(-1, &st, __WALL);
    if (got < 0) {
      if (errno == EINTR) continue;
      fail("wait: %s", strerror(errno));
    }
    if (WIFSTOPPED(st)) {
      /* A ptrace-stop, not an exit: a process made PID 1 its tracer (PTRACE_TRACEME, possible
       * only with seccomp relaxed). Detach and let it go on with its signal. */
      ptrace(PTRACE_DETACH, got, NULL, (void *)(long)WSTOPSIG(st));
      continue;
    }
    if (got != child) continue; /* an orphan re-parented to us: reaped, keep waiting */
    if (emit_fd >= 0) {
      /* Artifacts only from a successful compile; the pipe is closed either way. */
      if (nemits > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        kill_the_rest();
        char error[600];
        if (emit_artifacts(workdir, emit_fd, emit_max, emits, nemits, error, sizeof error) < 0) {
          char line[700];
          int n = snprintf(line, sizeof line, "A%s\n", error);
          if (status_fd >= 0 && n > 0) write_all(status_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        }
      }
      close(emit_fd);
    }
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
