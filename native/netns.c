/*
 * netns.c: the net mode (as root on the host): starts the user-mode network stack of an
 * environment build (slirp4netns) for one sandbox's network namespace, as that sandbox's own
 * unprivileged uid, never as root and never in the host's network namespace.
 *
 *   cylo-helper net --pid PID --uid UID --gid GID --nft NFT --tcp-port N... [--cgroup-procs FILE]... -- SLIRP4NETNS ARGV...
 *
 * PID is the sandbox's PID 1 (bubblewrap's child, waiting for its job). The helper
 *   0. joins the build's own cgroups (--cgroup-procs, required: the stage's cgroup.procs files,
 *      one per v1 hierarchy) once the namespaces are checked (1), before any fork: the stack's CPU and memory are charged to the build and capped by its
 *      limits, and the stage's kill sweep (cgroup.kill) ends it with the build (F3: a build
 *      that makes the stack work hard, many connections and full buffers, would otherwise
 *      spend cylo's own CPU and memory, outside every limit);
 *   1. opens PID's network namespace and, with NS_GET_USERNS, the user namespace that owns it
 *      (bubblewrap's first one: PID 1 itself sits in a nested one made by --disable-userns,
 *      which has no power over the network namespace), and refuses unless that user namespace
 *      belongs to UID (a namespace this sandbox's uid made, not the host's nor another slot's)
 *      and the network namespace is not the helper's own (the host's);
 *   2. makes link-local (cloud metadata) and private ranges unroutable in that namespace
 *      (blackhole.c), and loads an output filter there that drops every packet but DNS to slirp's
 *      forwarder and TCP to the --tcp-port ports elsewhere (netfilter.c, with NFT: the routes
 *      alone are bypassed by a datagram sent to a chosen interface);
 *   3. confines it to a root of its own in a private mount namespace (confine(), below);
 *   4. puts the network namespace at fd NET_FD and its user namespace at fd USERNS_FD (the
 *      argv names them as /proc/self/fd/N, built by src/sandbox/build-network.ts);
 *   5. drops to UID/GID (setgroups, setresgid, setresuid), asks for SIGKILL when cylo dies,
 *      and exec()s slirp4netns.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "blackhole.h"
#include "missing-defs.h"
#include "modes.h"
#include "netfilter.h"
#include "util.h"

/* Where slirp4netns finds the namespaces (its argv says /proc/self/fd/5 and /proc/self/fd/6). */
#define NET_FD 5
#define USERNS_FD 6

#define MAX_NET_CGROUPS 8
#define MAX_NET_PORTS 8

struct net_options {
  long long pid, uid, gid;
  int ncgroups;
  const char *cgroups[MAX_NET_CGROUPS];
  const char *nft;
  int nports;
  int ports[MAX_NET_PORTS];
  char **argv;
};

static void parse_net_options(int argc, char **argv, struct net_options *o) {
  int i = 0;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) { i++; break; }
    if (i + 1 >= argc) fail("option %s needs a value", a);
    const char *v = argv[++i];
    if (strcmp(a, "--pid") == 0) o->pid = parse_num(v, a);
    else if (strcmp(a, "--uid") == 0) o->uid = parse_num(v, a);
    else if (strcmp(a, "--gid") == 0) o->gid = parse_num(v, a);
    else if (strcmp(a, "--nft") == 0) o->nft = v;
    else if (strcmp(a, "--tcp-port") == 0) {
      long long port = parse_num(v, a);
      if (port < 1 || port > 65535 || o->nports >= MAX_NET_PORTS) fail("net: --tcp-port %s: a port 1-65535, at most %d of them", v, MAX_NET_PORTS);
      o->ports[o->nports++] = (int)port;
    }
    else if (strcmp(a, "--cgroup-procs") == 0) {
      if (o->ncgroups >= MAX_NET_CGROUPS) fail("net: too many --cgroup-procs");
      o->cgroups[o->ncgroups++] = v;
    }
    else fail("unknown net option %s", a);
  }
  /* Unprivileged ids only: the network stack parses the sandbox's packets and must never be root. */
  if (o->pid <= 1 || o->uid <= 0 || o->gid <= 0 || o->uid >= 0xffffffffLL || o->gid >= 0xffffffffLL)
    fail("net: --pid, --uid and --gid are required (a sandbox's PID 1, unprivileged ids)");
  /* Never a stack outside the build's limits and kill sweep (F3, step 0 above). */
  if (o->ncgroups == 0) fail("net: --cgroup-procs is required (the build's cgroup, which holds the stack's CPU and memory)");
  /* Never a stack without its output filter (netfilter.c): the routes alone leak UDP. */
  if (o->nft == NULL || o->nft[0] != '/' || o->nports == 0) fail("net: --nft (nft's absolute path) and --tcp-port are required (the build's output filter)");
  if (i >= argc || argv[i][0] != '/') fail("net: the network stack's argv must follow -- (an absolute path)");
  o->argv = argv + i;
}

/* Opens PID's network namespace and its owning user namespace at NET_FD and USERNS_FD, after
 * checking that they are a sandbox's of UID (stops a reused PID or a wrong one from giving the
 * network stack the host's namespace or another sandbox's). */
static void open_namespaces(const struct net_options *o) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%lld/ns/net", o->pid);
  int net = open(path, O_RDONLY | O_CLOEXEC);
  if (net < 0) fail("net: open %s: %s (the sandbox ended?)", path, strerror(errno));
  struct stat theirs, ours;
  if (fstat(net, &theirs) < 0 || stat("/proc/self/ns/net", &ours) < 0) fail("net: stat namespaces: %s", strerror(errno));
  if (theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino) fail("net: process %lld is in the host's network namespace", o->pid);
  int userns = ioctl(net, NS_GET_USERNS);
  if (userns < 0) fail("net: NS_GET_USERNS: %s", strerror(errno));
  uid_t owner = (uid_t)-1;
  if (ioctl(userns, NS_GET_OWNER_UID, &owner) < 0) fail("net: NS_GET_OWNER_UID: %s", strerror(errno));
  if ((long long)owner != o->uid) fail("net: the network namespace of process %lld belongs to uid %u, not the sandbox's %lld", o->pid, owner, o->uid);
  /* Moved above the target numbers first: open() may have returned NET_FD or USERNS_FD itself
   * (fds 0-4 are cylo's pipes), and dup2 onto itself would keep close-on-exec. */
  int high_net = fcntl(net, F_DUPFD_CLOEXEC, 10), high_userns = fcntl(userns, F_DUPFD_CLOEXEC, 10);
  if (high_net < 0 || high_userns < 0) fail("net: F_DUPFD: %s", strerror(errno));
  close(net);
  close(userns);
  if (dup2(high_net, NET_FD) < 0 || dup2(high_userns, USERNS_FD) < 0) fail("net: dup2: %s", strerror(errno));
  close(high_net);
  close(high_userns);
}

/* A read-only bind of the host's SRC at ROOT/DST (made first), or nothing when SRC is absent. */
static void bind_ro(const char *root, const char *src, const char *dst, int dir) {
  char target[256];
  snprintf(target, sizeof target, "%s%s", root, dst);
  if (dir) {
    if (mkdir(target, 0755) < 0 && errno != EEXIST) fail("net: make %s: %s", target, strerror(errno));
  } else {
    int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail("net: make %s: %s", target, strerror(errno));
    close(fd);
  }
  if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) < 0) fail("net: bind %s: %s", src, strerror(errno));
  if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
    fail("net: make %s read-only: %s", target, strerror(errno));
}

/* The network stack's whole filesystem (its own --enable-sandbox needs uid 0 mapped in the
 * namespace it joins, which a sandbox's is not): in a mount namespace of this process only, a
 * tmpfs root with /usr (its binary and libraries), a /proc of its own (below),
 * /etc/resolv.conf (where its DNS forwarder sends queries) read-only, and a /dev/net/tun node
 * the unprivileged stack may open (hosts without udev leave the host's 0600). Opening it grants
 * nothing by itself: TUNSETIFF needs CAP_NET_ADMIN over the network namespace, which the stack
 * holds only in the sandbox's namespaces it joins. A compromised stack (it parses the sandbox's
 * packets) sees no host file but those; the host's own mounts and /dev are untouched. */
static void confine(void) {
  const char *root = "/tmp";
  if (unshare(CLONE_NEWNS) < 0) fail("net: unshare mount namespace: %s", strerror(errno));
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail("net: make mounts private: %s", strerror(errno));
  if (mount("tmpfs", root, "tmpfs", MS_NOSUID, "mode=0755,size=64k") < 0) fail("net: mount the root tmpfs: %s", strerror(errno));
  bind_ro(root, "/usr", "/usr", 1);
  /* A procfs of its own, not the host's: subset=pid shows no /proc/sys, /proc/kallsyms,
   * /proc/net (the HOST's sockets: the stack runs in the host's network namespace) nor any
   * other global file; hidepid=invisible hides every process the stack cannot ptrace (all but
   * its own uid's: itself and its sandbox). It keeps /proc/self/fd, where its argv names the
   * namespaces (F6: a compromised stack reads nothing of the host's processes or kernel). */
  if (mkdir("/tmp/proc", 0555) < 0) fail("net: make /proc: %s", strerror(errno));
  if (mount("proc", "/tmp/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible,subset=pid") < 0)
    fail("net: mount a procfs of its own (hidepid=invisible,subset=pid, Linux 5.8 or later): %s", strerror(errno));
  if (mkdir("/tmp/etc", 0755) < 0 || mkdir("/tmp/dev", 0755) < 0 || mkdir("/tmp/dev/net", 0755) < 0 || mkdir("/tmp/.old", 0700) < 0)
    fail("net: make the root's directories: %s", strerror(errno));
  bind_ro(root, "/etc/resolv.conf", "/etc/resolv.conf", 0);
  static const char *const tops[] = {"/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"};
  for (size_t k = 0; k < sizeof tops / sizeof tops[0]; k++) {
    char link[256], target[256];
    struct stat st;
    if (lstat(tops[k], &st) < 0) continue;
    snprintf(link, sizeof link, "%s%s", root, tops[k]);
    ssize_t n = S_ISLNK(st.st_mode) ? readlink(tops[k], target, sizeof target - 1) : -1;
    if (n > 0) {
      target[n] = '\0';
      if (symlink(target, link) < 0) fail("net: symlink %s: %s", link, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
      bind_ro(root, tops[k], tops[k], 1);
    }
  }
  if (mknod("/tmp/dev/net/tun", S_IFCHR | 0666, makedev(10, 200)) < 0 || chmod("/tmp/dev/net/tun", 0666) < 0)
    fail("net: make /dev/net/tun: %s", strerror(errno));
  if (mknod("/tmp/dev/null", S_IFCHR | 0666, makedev(1, 3)) < 0 || chmod("/tmp/dev/null", 0666) < 0)
    fail("net: make /dev/null: %s", strerror(errno));
  if (syscall(SYS_pivot_root, root, "/tmp/.old") < 0) fail("net: pivot_root: %s", strerror(errno));
  if (chdir("/") < 0 || umount2("/.old", MNT_DETACH) < 0 || rmdir("/.old") < 0) fail("net: drop the host's root: %s", strerror(errno));
  if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID, NULL) < 0) fail("net: make the root read-only: %s", strerror(errno));
}

void run_net(int argc, char **argv) {
  static struct net_options o = {.pid = -1, .uid = -1, .gid = -1};
  parse_net_options(argc, argv, &o);
  open_namespaces(&o);
  /* Before the first fork (the blackhole and filter children) and the exec: see step 0 above. */
  for (int k = 0; k < o.ncgroups; k++) join_cgroup(o.cgroups[k]);
  blackhole_routes(NET_FD);
  output_filter(NET_FD, o.nft, o.ports, o.nports);
  confine();
  if (setgroups(0, NULL) < 0) fail("net: setgroups: %s", strerror(errno));
  if (setresgid((gid_t)o.gid, (gid_t)o.gid, (gid_t)o.gid) < 0) fail("net: setresgid: %s", strerror(errno));
  if (setresuid((uid_t)o.uid, (uid_t)o.uid, (uid_t)o.uid) < 0) fail("net: setresuid: %s", strerror(errno));
  if (getuid() != (uid_t)o.uid || geteuid() != (uid_t)o.uid || setuid(0) == 0) fail("net: could not drop root");
  /* At most 4096 descriptors (review finding N3): each connection the build opens is a socket
   * of the stack on the host; it would otherwise inherit cylo's limit (Node raises it to the
   * hard limit, 524288 under systemd). npm and pip keep a few dozen open. */
  struct rlimit files = {.rlim_cur = 4096, .rlim_max = 4096};
  if (setrlimit(RLIMIT_NOFILE, &files) < 0) fail("net: setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
  /* The stack never outlives cylo (its --exit-fd ends it too, when cylo closes the pipe). */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) fail("net: PR_SET_PDEATHSIG: %s", strerror(errno));
  /* Only fds 0-6 reach the network stack (stdio, its ready and exit pipes, NET_FD, USERNS_FD):
   * stops any other descriptor a future caller leaves open (a host file, a socket of cylo's)
   * from being inherited by a process that parses the sandbox's packets. */
  if (syscall(SYS_close_range, 7U, ~0U, 0) < 0) fail("net: close_range: %s", strerror(errno));
  execv(o.argv[0], o.argv);
  fail("net: cannot execute %s: %s", o.argv[0], strerror(errno));
}
