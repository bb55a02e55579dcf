/*
 * outer.c: the outer mode, the root side on the host before bubblewrap:
 *   1. joins the execution's cgroups (so not a single fork escapes the memory/pids limits),
 *   2. makes itself, and so bubblewrap and the sandbox's PID 1, never the OOM killer's victim,
 *   3. in a private mount namespace: mounts the workspace tmpfs (size and inode caps) and hands
 *      it to bubblewrap as an fd (workspace.c); opens the trees to bind as O_PATH fds while it
 *      is still root and, for trees under a parent others cannot search (e.g. /root), reveals them,
 *   4. drops to the execution's unprivileged uid/gid,
 *   5. exec()s bubblewrap.
 *
 *   outer --status-fd N --uid UID --gid GID --workspace N:BYTES:INODES [--cgroup-procs FILE]...
 *         [--open-fd N:PATH]... [--cpu-counter N:PATH] -- BWRAP ARGV
 * (built by buildOuterArgv in src/sandbox/bwrap-argv.ts). Every option is parsed and checked
 * before anything is done, so a refused argv changes nothing on the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "modes.h"
#include "util.h"
#include "workspace.h"

#define MAX_OPEN_FDS 32
#define MAX_CGROUPS 16

struct tree {
  const char *path; /* absolute */
  int fd;           /* where its O_PATH fd is placed for bwrap --ro-bind-fd */
};

/* The workspace: a fresh tmpfs the outer helper mounts itself, because bubblewrap (0.8) cannot
 * cap a tmpfs's inodes. */
struct workspace {
  int fd;           /* where its directory fd is placed for bwrap --bind-fd; -1: not given */
  long long bytes;  /* size= */
  long long inodes; /* nr_inodes= */
};

struct outer_options {
  long long uid, gid;
  struct workspace workspace;
  struct tree cpu_counter; /* path NULL: none */
  int ncgroups;
  const char *cgroups[MAX_CGROUPS];
  int ntrees;
  struct tree trees[MAX_OPEN_FDS];
  char **bwrap_argv;
};

/* ------------------------------------------------------------------------------------------ */
/* options                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* --open-fd N:PATH - open PATH as O_PATH while still root and place it at fd N for bwrap --*-bind-fd. */
static void open_fd_option(struct outer_options *o, char *v) {
  char *colon = strchr(v, ':');
  if (colon == NULL) fail("--open-fd wants N:PATH, got %s", v);
  *colon = '\0';
  int want = parse_fd(v, "--open-fd");
  if (want < 3) fail("--open-fd target must be >= 3");
  if (o->ntrees >= MAX_OPEN_FDS) fail("too many --open-fd");
  if (colon[1] != '/' || strlen(colon + 1) >= PATH_MAX) fail("--open-fd wants an absolute path, got %s", colon + 1);
  o->trees[o->ntrees].path = colon + 1;
  o->trees[o->ntrees].fd = want;
  o->ntrees++;
}

/* --workspace N:BYTES:INODES - the workspace tmpfs, placed at fd N for bwrap --bind-fd. */
static void workspace_option(struct workspace *w, char *v) {
  char *first = strchr(v, ':');
  char *second = first == NULL ? NULL : strchr(first + 1, ':');
  if (second == NULL) fail("--workspace wants N:BYTES:INODES, got %s", v);
  *first = '\0';
  *second = '\0';
  w->fd = parse_fd(v, "--workspace");
  if (w->fd < 3) fail("--workspace fd must be >= 3");
  w->bytes = parse_num(first + 1, "--workspace bytes");
  w->inodes = parse_num(second + 1, "--workspace inodes");
  if (w->bytes <= 0 || w->inodes <= 0) fail("--workspace: bytes and inodes must be positive");
}

/* --cpu-counter N:PATH - the cgroup's CPU counter, opened read-only and placed at fd N for PID 1
 * (inner --cpu-fd N), which reads it around the program's exec. */
static void cpu_counter_option(struct outer_options *o, char *v) {
  char *colon = strchr(v, ':');
  if (colon == NULL) fail("--cpu-counter wants N:PATH, got %s", v);
  *colon = '\0';
  o->cpu_counter.fd = parse_fd(v, "--cpu-counter");
  if (o->cpu_counter.fd < 3) fail("--cpu-counter target must be >= 3");
  if (colon[1] != '/') fail("--cpu-counter wants an absolute path, got %s", colon + 1);
  o->cpu_counter.path = colon + 1;
}

/* An id to switch to: unprivileged (not 0) and a real id (not (uid_t)-1, which setresuid reads
 * as "unchanged", nor anything a uid_t cannot hold, which would wrap around, possibly to 0). */
static long long parse_id(const char *v, const char *what) {
  long long id = parse_num(v, what);
  if (id <= 0 || id >= (long long)UINT32_MAX) fail("outer: %s must be an unprivileged id (1 to %u), got %s", what, UINT32_MAX - 1, v);
  return id;
}

static void parse_outer_options(int argc, char **argv, struct outer_options *o) {
  int i = 0;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) { i++; break; }
    if (i + 1 >= argc) fail("option %s needs a value", a);
    char *v = argv[++i];
    if (strcmp(a, "--status-fd") == 0) {
      /* Left inheritable: bubblewrap passes it on to the inner helper. */
      set_status_fd(v, a, 0);
    } else if (strcmp(a, "--uid") == 0) {
      o->uid = parse_id(v, a);
    } else if (strcmp(a, "--gid") == 0) {
      o->gid = parse_id(v, a);
    } else if (strcmp(a, "--cgroup-procs") == 0) {
      if (o->ncgroups >= MAX_CGROUPS) fail("too many --cgroup-procs");
      o->cgroups[o->ncgroups++] = v;
    } else if (strcmp(a, "--open-fd") == 0) {
      open_fd_option(o, v);
    } else if (strcmp(a, "--workspace") == 0) {
      workspace_option(&o->workspace, v);
    } else if (strcmp(a, "--cpu-counter") == 0) {
      cpu_counter_option(o, v);
    } else {
      fail("unknown outer option %s", a);
    }
  }
  if (i >= argc) fail("outer: missing -- and the bubblewrap argv");
  if (o->uid <= 0 || o->gid <= 0) fail("outer: --uid and --gid must be unprivileged (> 0)");
  if (o->workspace.fd < 0) fail("outer: --workspace is required (the sandbox's only writable place)");
  for (int k = 0; k < o->ntrees; k++)
    if (o->trees[k].fd == o->workspace.fd) fail("outer: --workspace and --open-fd both use fd %d", o->workspace.fd);
  if (o->cpu_counter.path != NULL && o->cpu_counter.fd == o->workspace.fd) fail("outer: --workspace and --cpu-counter both use fd %d", o->workspace.fd);
  o->bwrap_argv = &argv[i];
}

/* ------------------------------------------------------------------------------------------ */
/* cgroups                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Opens the CPU counter read-only and places it, inheritable, at its fd. Only a file of a cgroup
 * filesystem is accepted: the fd reaches the sandbox's PID 1, so a wrong path must never hand it
 * another root-readable file (O_NOFOLLOW: nor one a link points to). */
static void open_cpu_counter(const struct tree *t) {
  int fd = open(t->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) fail("cgroup: cannot open the CPU counter %s: %s", t->path, strerror(errno));
  struct statfs sfs;
  if (fstatfs(fd, &sfs) < 0) fail("cgroup: fstatfs %s: %s", t->path, strerror(errno));
  if (sfs.f_type != CGROUP_SUPER_MAGIC && sfs.f_type != CGROUP2_SUPER_MAGIC) fail("cgroup: %s is not on a cgroup filesystem", t->path);
  if (fd != t->fd) {
    if (dup2(fd, t->fd) < 0) fail("dup2: %s", strerror(errno));
    close(fd);
  } else if (fcntl(fd, F_SETFD, 0) < 0) {
    fail("fcntl: %s", strerror(errno));
  }
}

/* ------------------------------------------------------------------------------------------ */
/* hidden trees                                                                                */
/* ------------------------------------------------------------------------------------------ */

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

/* Enters a private mount namespace (once), where the workspace is mounted and hidden trees are
 * revealed: the host's mount table never changes. Entered before the first hidden tree is
 * opened, so its O_PATH fd belongs to this namespace and can be the source of a bind mount. */
static void private_mount_namespace(void) {
  static int done = 0;
  if (done) return;
  if (unshare(CLONE_NEWNS) < 0) fail("mount namespace: unshare(CLONE_NEWNS): %s (cylo must start as root)", strerror(errno));
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail("mount namespace: make / private: %s", strerror(errno));
  done = 1;
}

/* Opens the tree as O_PATH while still root and places it, inheritable, at its fd. */
static void open_tree_fd(const struct tree *t) {
  char anc[PATH_MAX];
  if (hidden_ancestor(t->path, anc, sizeof anc)) private_mount_namespace();
  int fd = open(t->path, O_PATH | O_CLOEXEC);
  if (fd < 0) fail("cannot open %s: %s", t->path, strerror(errno));
  if (fd != t->fd) {
    if (dup2(fd, t->fd) < 0) fail("dup2: %s", strerror(errno));
    close(fd);
  } else if (fcntl(fd, F_SETFD, 0) < 0) {
    fail("fcntl: %s", strerror(errno));
  }
}

/* Creates the mount point of a tree inside the tmpfs: its directories, or for a file tree its
 * parent directories and an empty file. */
static void make_mount_point(const struct tree *t) {
  struct stat st;
  if (fstat(t->fd, &st) < 0) fail("reveal: fstat: %s", strerror(errno));
  if (S_ISDIR(st.st_mode)) {
    mkdir_p(t->path);
    return;
  }
  char parent[PATH_MAX];
  size_t plen = strnlen(t->path, PATH_MAX);
  if (plen >= sizeof parent) fail("reveal: path too long");
  memcpy(parent, t->path, plen + 1);
  char *slash = strrchr(parent, '/');
  if (slash != NULL && slash != parent) {
    *slash = '\0';
    mkdir_p(parent);
  }
  int f = open(t->path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (f < 0) fail("reveal: create %s: %s", t->path, strerror(errno));
  close(f);
}

/* Makes every opened tree reachable at its own path for an unprivileged uid, in the private mount
 * namespace: a fresh 0755 tmpfs over each blocking ancestor, the trees bound back through their
 * O_PATH fds (so what is bound is exactly what was opened as root). */
static void reveal_hidden_trees(const struct tree *trees, int n) {
  /* Static, not on the stack: 128 KiB of stack would be probed page by page (stack clash
   * protection), 32 page faults per sandbox for a list that is nearly always empty. */
  static char hidden[MAX_OPEN_FDS][PATH_MAX];
  int nhidden = 0;
  for (int k = 0; k < n; k++) {
    char anc[PATH_MAX];
    if (!hidden_ancestor(trees[k].path, anc, sizeof anc)) continue;
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
    make_mount_point(&trees[k]);
    char source[64];
    snprintf(source, sizeof source, "/proc/self/fd/%d", trees[k].fd);
    if (mount(source, trees[k].path, NULL, MS_BIND | MS_REC, NULL) < 0)
      fail("reveal: bind %s: %s", trees[k].path, strerror(errno));
  }
}

/* ------------------------------------------------------------------------------------------ */
/* identity                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Drop to the execution's own unprivileged identity: the sandbox never runs as host root. */
static void drop_identity(uid_t uid, gid_t gid) {
  if (setgroups(0, NULL) < 0) fail("identity: setgroups: %s (cylo must start as root)", strerror(errno));
  if (setresgid(gid, gid, gid) < 0) fail("identity: setresgid: %s", strerror(errno));
  if (setresuid(uid, uid, uid) < 0) fail("identity: setresuid: %s", strerror(errno));
  if (getuid() != uid || geteuid() != uid || setuid(0) == 0) fail("identity: could not drop root");
}

void run_outer(int argc, char **argv) {
  static struct outer_options o = {.uid = -1, .gid = -1, .workspace = {.fd = -1}};
  parse_outer_options(argc, argv, &o);
  for (int k = 0; k < o.ncgroups; k++) join_cgroup(o.cgroups[k]);
  /* Before the workspace is mounted over /sys (workspace.c), where the counter lives. */
  if (o.cpu_counter.path != NULL) open_cpu_counter(&o.cpu_counter);
  protect_plumbing_from_oom();
  /* The workspace is mounted in a mount namespace of this process's own: the host never has it. */
  private_mount_namespace();
  mount_workspace(o.workspace.fd, o.workspace.bytes, o.workspace.inodes, o.uid, o.gid);
  for (int k = 0; k < o.ntrees; k++) open_tree_fd(&o.trees[k]);
  reveal_hidden_trees(o.trees, o.ntrees);
  drop_identity((uid_t)o.uid, (gid_t)o.gid);
  execv(o.bwrap_argv[0], o.bwrap_argv);
  fail("cannot execute %s: %s", o.bwrap_argv[0], strerror(errno));
}
