/*
 * cylo security battery: the C attack program. Compiled ONCE per test run (the compile cache
 * keeps it across runs) and run ONLY inside cylo's sandbox, after the pre-flight passed:
 *     main ATTACK [ARGS...]
 * Each probe prints one line "name=RESULT" where RESULT is "ok" (the call succeeded), "ok:N"
 * (it succeeded with a value worth seeing) or the exact errno name (EPERM, ENOSYS, ...).
 * Raw syscall() is used where libc has no wrapper or would hide the call (x32, high bits).
 * Every call is made with harmless arguments: even on a host with no sandbox at all, none of
 * them would change the machine (reboot with a bad magic, acct on a missing file, ...).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void report(const char *name, long rc) {
  if (rc < 0) printf("%s=%s\n", name, strerrorname_np(errno));
  else printf("%s=ok\n", name);
  fflush(stdout);
}

/* A raw syscall with errno captured; -1 and errno on failure. */
#define SC(name, ...)                       \
  do {                                      \
    errno = 0;                              \
    long rc_ = syscall(__VA_ARGS__);        \
    report(name, rc_);                      \
  } while (0)

static pid_t sleeper(void) {
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  return pid;
}

static void reap(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* kernel attack surface                                                                    */
/* ---------------------------------------------------------------------------------------- */

static void attack_syscalls(void) {
  /* namespaces */
  SC("unshare_user", SYS_unshare, CLONE_NEWUSER);
  SC("unshare_mount", SYS_unshare, CLONE_NEWNS);
  SC("unshare_net", SYS_unshare, CLONE_NEWNET);
  {
    errno = 0;
    long rc = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (rc == 0) _exit(0); /* the child of a clone that should never have worked */
    if (rc > 0) waitpid((pid_t)rc, NULL, 0);
    report("clone_newuser", rc);
  }
  {
    uint64_t args[11] = {0};
    args[0] = CLONE_NEWUSER;
    args[4] = SIGCHLD; /* exit_signal */
    errno = 0;
    long rc = syscall(SYS_clone3, args, sizeof args);
    if (rc == 0) _exit(0);
    if (rc > 0) waitpid((pid_t)rc, NULL, 0);
    report("clone3", rc);
  }
  {
    int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    SC("setns", SYS_setns, fd, 0);
    if (fd >= 0) close(fd);
  }
  /* mounts, old and new API */
  SC("mount", SYS_mount, "none", "/work", "tmpfs", 0L, NULL);
  SC("mount_bind", SYS_mount, "/work", "/usr", NULL, (long)MS_BIND, NULL);
  SC("mount_remount_rw", SYS_mount, NULL, "/", NULL, (long)(MS_REMOUNT | MS_BIND), NULL);
  SC("umount2", SYS_umount2, "/work", (long)MNT_DETACH);
  SC("pivot_root", SYS_pivot_root, ".", ".");
  SC("chroot", SYS_chroot, "/work");
  SC("fsopen", SYS_fsopen, "tmpfs", 0L);
  SC("fspick", SYS_fspick, AT_FDCWD, "/", 0L);
  SC("fsmount", SYS_fsmount, -1L, 0L, 0L);
  SC("open_tree", SYS_open_tree, AT_FDCWD, "/usr", 1L /* OPEN_TREE_CLONE */);
  SC("move_mount", SYS_move_mount, -1L, "", AT_FDCWD, "/work", 4L /* MOVE_MOUNT_F_EMPTY_PATH */);
  {
    uint64_t attr[4] = {0};
    SC("mount_setattr", SYS_mount_setattr, AT_FDCWD, "/", 0L, attr, sizeof attr);
  }
  /* other processes' memory */
  SC("ptrace_traceme", SYS_ptrace, 0L /* PTRACE_TRACEME */, 0L, 0L, 0L);
  {
    pid_t child = sleeper();
    SC("ptrace_attach", SYS_ptrace, 16L /* PTRACE_ATTACH */, (long)child, 0L, 0L);
    SC("ptrace_seize", SYS_ptrace, 0x4206L /* PTRACE_SEIZE */, (long)child, 0L, 0L);
    char buf[8];
    struct iovec local = {buf, sizeof buf}, remote = {buf, sizeof buf};
    SC("process_vm_readv", SYS_process_vm_readv, (long)child, &local, 1L, &remote, 1L, 0L);
    SC("process_vm_writev", SYS_process_vm_writev, (long)child, &local, 1L, &remote, 1L, 0L);
    SC("kcmp", SYS_kcmp, (long)getpid(), (long)child, 0L /* KCMP_FILE */, 0L, 0L);
    reap(child);
  }
  SC("ptrace_attach_pid1", SYS_ptrace, 16L, 1L, 0L, 0L);
  /* keyrings */
  SC("keyctl", SYS_keyctl, 0L /* KEYCTL_GET_KEYRING_ID */, -3L /* session */, 0L);
  SC("add_key", SYS_add_key, "user", "cylo", "x", 1L, -2L /* process keyring */);
  SC("request_key", SYS_request_key, "user", "cylo-none", NULL, 0L);
  /* eBPF, perf, io_uring, userfaultfd */
  {
    unsigned char attr[128] = {0};
    SC("bpf", SYS_bpf, 0L /* BPF_MAP_CREATE */, attr, sizeof attr);
  }
  {
    uint32_t attr[32] = {0};
    attr[0] = 1;              /* PERF_TYPE_SOFTWARE */
    attr[1] = sizeof attr;    /* size */
    SC("perf_event_open", SYS_perf_event_open, attr, 0L, -1L, -1L, 0L);
  }
  {
    unsigned char params[120] = {0};
    SC("io_uring_setup", SYS_io_uring_setup, 1L, params);
    SC("io_uring_enter", SYS_io_uring_enter, -1L, 0L, 0L, 0L, NULL, 0L);
    SC("io_uring_register", SYS_io_uring_register, -1L, 0L, NULL, 0L);
  }
  SC("userfaultfd", SYS_userfaultfd, 0L);
  SC("memfd_secret", SYS_memfd_secret, 0L);
  /* the terminal: TIOCSTI and TIOCLINUX, also with high bits set (CVE-2019-10063) */
  {
    char c = 'x';
    SC("tiocsti", SYS_ioctl, 0L, (long)TIOCSTI, &c);
    SC("tiocsti_high_bits", SYS_ioctl, 0L, 0x100005412L, &c);
    SC("tioclinux", SYS_ioctl, 0L, (long)TIOCLINUX, &c);
    SC("tioclinux_high_bits", SYS_ioctl, 0L, 0xffffffff0000541cL, &c);
  }
  /* the x32 ABI: syscall numbers with bit 30 set */
  SC("x32_getpid", 0x40000000L | SYS_getpid);
  SC("x32_unshare", 0x40000000L | SYS_unshare, CLONE_NEWUSER);
  /* personality: weakening ASLR or NX; querying stays allowed */
  SC("personality_addr_no_randomize", SYS_personality, (long)ADDR_NO_RANDOMIZE);
  SC("personality_read_implies_exec", SYS_personality, (long)READ_IMPLIES_EXEC);
  SC("personality_high_bits", SYS_personality, 0x100000000L | ADDR_NO_RANDOMIZE);
  SC("personality_query", SYS_personality, 0xffffffffL);
  /* sockets to the hypervisor */
  SC("socket_vsock", SYS_socket, 40L /* AF_VSOCK */, (long)SOCK_STREAM, 0L);
  SC("socket_vsock_high_bits", SYS_socket, 0x100000028L, (long)SOCK_STREAM, 0L);
  {
    int sv[2];
    SC("socketpair_vsock", SYS_socketpair, 40L, (long)SOCK_STREAM, 0L, sv);
  }
  SC("socket_packet", SYS_socket, 17L /* AF_PACKET */, (long)SOCK_RAW, 0L);
  /* the kernel, the clock and the machine (harmless arguments) */
  SC("init_module", SYS_init_module, NULL, 0L, "");
  SC("finit_module", SYS_finit_module, -1L, "", 0L);
  SC("delete_module", SYS_delete_module, "cylo_none", 0L);
  SC("kexec_load", SYS_kexec_load, 0L, 0L, NULL, 0xffffffffL);
  SC("reboot", SYS_reboot, 0L, 0L, 0L, NULL); /* wrong magic: EINVAL even for root */
  SC("swapon", SYS_swapon, "/work/none", 0L);
  SC("acct", SYS_acct, "/work/none");
  SC("syslog", SYS_syslog, 10L /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0L);
  SC("settimeofday", SYS_settimeofday, NULL, NULL);
  SC("clock_settime", SYS_clock_settime, -1L, NULL);
  SC("adjtimex", SYS_adjtimex, NULL);
  SC("iopl", SYS_iopl, 0L);
  SC("ioperm", SYS_ioperm, 0L, 0L, 0L);
  SC("open_by_handle_at", SYS_open_by_handle_at, AT_FDCWD, NULL, 0L);
  SC("name_to_handle_at", SYS_name_to_handle_at, AT_FDCWD, ".", NULL, NULL, 0L);
  SC("quotactl", SYS_quotactl, 0L, NULL, 0L, NULL);
  SC("fanotify_init", SYS_fanotify_init, 0L, 0L);
  /* identity: no way back to root */
  SC("setuid_0", SYS_setuid, 0L);
  SC("setgid_0", SYS_setgid, 0L);
  SC("setresuid_0", SYS_setresuid, 0L, 0L, 0L);
  SC("setgroups", SYS_setgroups, 0L, NULL);
  {
    uint32_t header[2] = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
    uint32_t data[6] = {0xffffffff, 0xffffffff, 0, 0, 0, 0}; /* effective + permitted: all */
    SC("capset_all", SYS_capset, header, data);
  }
  printf("no_new_privs=%d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
  printf("uid=%d\neuid=%d\n", (int)getuid(), (int)geteuid());
  fflush(stdout);
}

/* The i386 ABI (int 0x80) on x86_64: the filter's architecture check kills the process. */
static void attack_int80(void) {
  printf("before=ok\n");
  fflush(stdout);
#if defined(__x86_64__)
  long rc;
  __asm__ volatile("int $0x80" : "=a"(rc) : "a"(20L) /* i386 getpid */ : "memory");
  printf("int80=%ld\n", rc);
#else
  printf("int80=not-x86_64\n");
#endif
}

/* ---------------------------------------------------------------------------------------- */
/* resources                                                                                */
/* ---------------------------------------------------------------------------------------- */

static void attack_fork_bomb(void) {
  int first = 0;
  long started = 0;
  for (;;) {
    pid_t pid = fork();
    if (pid == 0) {
      for (;;) {
        if (fork() < 0) pause();
      }
    }
    if (pid < 0) {
      if (first == 0) {
        first = errno;
        printf("fork=%s\nstarted=%ld\n", strerrorname_np(first), started);
        fflush(stdout);
      }
      usleep(1000);
    } else {
      started++;
    }
  }
}

static void *thread_sleep(void *arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

static void attack_thread_bomb(void) {
  long n = 0;
  for (;;) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    int rc = pthread_create(&t, &attr, thread_sleep, NULL);
    if (rc != 0) {
      printf("pthread_create=%s\nthreads=%ld\n", strerrorname_np(rc), n);
      fflush(stdout);
      _exit(0);
    }
    n++;
  }
}

static void attack_memory_bomb(void) {
  for (size_t total = 0;; total += 1 << 20) {
    char *p = malloc(1 << 20);
    if (p == NULL) {
      printf("malloc=ENOMEM\ntotal=%zu\n", total);
      fflush(stdout);
      for (;;) pause();
    }
    memset(p, 0x5a, 1 << 20);
  }
}

static void attack_fill_bytes(void) {
  int fd = open("/work/fill", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) { report("open", -1); return; }
  static char buf[64 * 1024];
  memset(buf, 'x', sizeof buf);
  long long total = 0;
  for (;;) {
    ssize_t n = write(fd, buf, sizeof buf);
    if (n < 0) {
      printf("write=%s\nbytes=%lld\n", strerrorname_np(errno), total);
      break;
    }
    total += n;
  }
  /* a second file cannot take more room either */
  int fd2 = open("/work/fill2", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  errno = 0;
  report("write_second", fd2 < 0 ? -1 : write(fd2, buf, sizeof buf));
}

static void attack_efbig(int ignore) {
  if (ignore) signal(SIGXFSZ, SIG_IGN);
  int fd = open("/work/sparse", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  errno = 0;
  long rc = fd < 0 ? -1 : pwrite(fd, "x", 1, 1LL << 40);
  report("pwrite_beyond_fsize", rc);
}

static void attack_fill_inodes(void) {
  long n = 0;
  char name[64];
  for (;;) {
    snprintf(name, sizeof name, "/work/i%ld", n);
    int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
      printf("create=%s\nfiles=%ld\n", strerrorname_np(errno), n);
      fflush(stdout);
      return;
    }
    close(fd);
    n++;
  }
}

static void attack_flood(int fd) {
  static char buf[64 * 1024];
  memset(buf, 'A', sizeof buf);
  for (;;) {
    if (write(fd, buf, sizeof buf) < 0) _exit(3);
  }
}

static void attack_busy(void) {
  volatile unsigned long x = 0;
  for (;;) x++;
}

static void attack_sleep(void) {
  for (;;) pause();
}

static void attack_sigstop(void) {
  printf("stopping=ok\n");
  fflush(stdout);
  raise(SIGSTOP);
  printf("resumed=ok\n");
}

/* Double fork + setsid: a daemon whose command line still carries the marker arguments. */
static void attack_daemon(void) {
  int p[2];
  if (pipe(p) < 0) { report("pipe", -1); return; }
  pid_t a = fork();
  if (a == 0) {
    setsid();
    if (fork() == 0) {
      signal(SIGHUP, SIG_IGN);
      close(p[0]);
      if (write(p[1], "u", 1) < 0) _exit(1);
      close(p[1]);
      close(1);
      close(2);
      for (;;) pause();
    }
    _exit(0);
  }
  close(p[1]);
  waitpid(a, NULL, 0);
  char c;
  printf("daemon=%s\n", read(p[0], &c, 1) == 1 ? "started" : "failed");
}

/* kill(-1) alone, kill(-1) with a child, PID 1, and pids of the host (the service, a canary). */
static void attack_kill(int argc, char **argv) {
  report("kill_minus_1_alone", kill(-1, SIGKILL));
  pid_t child = sleeper();
  report("kill_minus_1_with_child", kill(-1, SIGKILL));
  int st = 0;
  waitpid(child, &st, 0);
  printf("child_killed_by=%s%s\n", WIFSIGNALED(st) ? "SIG" : "", WIFSIGNALED(st) ? sigabbrev_np(WTERMSIG(st)) : "nothing");
  report("kill_pid1", kill(1, SIGKILL));
  report("kill_pid1_sigterm", kill(1, SIGTERM));
  for (int i = 0; i < argc; i++) {
    char name[64];
    snprintf(name, sizeof name, "kill_host_%d", i);
    report(name, kill(atoi(argv[i]), SIGKILL));
  }
  report("kill_process_group_0", kill(0, 0));
  printf("survived=ok\n");
}

/* ---------------------------------------------------------------------------------------- */
/* files, devices, network                                                                  */
/* ---------------------------------------------------------------------------------------- */

static void attack_read(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      printf("%s=%s\n", argv[i], strerrorname_np(errno));
      continue;
    }
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf);
    printf("%s=%s\n", argv[i], n < 0 ? strerrorname_np(errno) : "ok");
    close(fd);
  }
}

static void attack_write(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    int fd = open(argv[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      printf("%s=%s\n", argv[i], strerrorname_np(errno));
      continue;
    }
    ssize_t n = write(fd, "planted\n", 8);
    printf("%s=%s\n", argv[i], n < 0 ? strerrorname_np(errno) : "ok");
    close(fd);
  }
}

static void attack_devices(void) {
  const char *paths[] = {"/dev/mem", "/dev/kmem", "/dev/port", "/dev/kvm", "/dev/sda", "/dev/vda", "/dev/nvme0n1", "/dev/loop0", "/dev/fuse", "/dev/net/tun", "/dev/kmsg", "/dev/vsock", "/dev/vhost-vsock"};
  for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
    int fd = open(paths[i], O_RDWR | O_CLOEXEC);
    printf("%s=%s\n", paths[i], fd < 0 ? strerrorname_np(errno) : "ok");
    if (fd >= 0) close(fd);
  }
  errno = 0;
  report("mknod_char_mem", mknod("/work/mem", S_IFCHR | 0600, makedev(1, 1)));
  report("mknod_block_sda", mknod("/work/sda", S_IFBLK | 0600, makedev(8, 0)));
  report("mknod_dev", mknod("/dev/mem", S_IFCHR | 0600, makedev(1, 1)));
  report("mknod_fifo_work", mknod("/work/fifo", S_IFIFO | 0600, 0));
  DIR *d = opendir("/dev");
  if (d != NULL) {
    struct dirent *e;
    printf("dev_entries=");
    while ((e = readdir(d)) != NULL) if (e->d_name[0] != '.') printf("%s,", e->d_name);
    printf("\n");
    closedir(d);
  }
}

static void connect_tcp(const char *name, int family, const char *addr, int port) {
  int s = socket(family, SOCK_STREAM, 0);
  if (s < 0) { report(name, -1); return; }
  int rc;
  if (family == AF_INET) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, addr, &sa.sin_addr);
    rc = connect(s, (struct sockaddr *)&sa, sizeof sa);
  } else {
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    inet_pton(AF_INET6, addr, &sa.sin6_addr);
    rc = connect(s, (struct sockaddr *)&sa, sizeof sa);
  }
  report(name, rc);
  close(s);
}

/* Datagrams to the canary: the send "works" (into the sandbox's own lo); a connected socket
 * learns that nothing listens there (ECONNREFUSED from the sandbox's own loopback). */
static void send_udp(const char *name, int port) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) { report(name, -1); close(s); return; }
  long rc = 0;
  for (int i = 0; i < 3 && rc >= 0; i++) {
    rc = send(s, "cylo", 4, 0);
    usleep(20000);
  }
  report(name, rc);
  close(s);
}

static void connect_unix(const char *name, const char *path, int abstract) {
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t len = strlen(path);
  if (len + 1 > sizeof sa.sun_path) len = sizeof sa.sun_path - 1;
  memcpy(sa.sun_path + (abstract ? 1 : 0), path, len);
  socklen_t slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (abstract ? 1 : 0));
  report(name, connect(s, (struct sockaddr *)&sa, slen));
  close(s);
}

/* net TCP4_PORT TCP6_PORT UDP_PORT ABSTRACT_NAME PATHNAME */
static void attack_net(int argc, char **argv) {
  if (argc < 5) { printf("usage=net\n"); return; }
  connect_tcp("tcp4_canary", AF_INET, "127.0.0.1", atoi(argv[0]));
  connect_tcp("tcp4_other_loopback", AF_INET, "127.0.0.2", atoi(argv[0]));
  if (atoi(argv[1]) > 0) connect_tcp("tcp6_canary", AF_INET6, "::1", atoi(argv[1]));
  send_udp("udp_canary", atoi(argv[2]));
  connect_unix("unix_abstract", argv[3], 1);
  connect_unix("unix_pathname", argv[4], 0);
  /* binding a listener is refused too (Landlock TCP bind) */
  {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(8080)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    report("tcp_bind", bind(s, (struct sockaddr *)&sa, sizeof sa));
    close(s);
  }
  report("raw_socket", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) {
    fprintf(stderr, "usage: main ATTACK [ARGS...]\n");
    return 2;
  }
  const char *a = argv[1];
  int rest = argc - 2;
  char **args = argv + 2;
  /* A trailing "cylomark..." argument only marks the process for the host-side checks. */
  if (rest > 0 && strncmp(args[rest - 1], "cylomark", 8) == 0) rest--;
  if (strcmp(a, "hello") == 0) printf("hello=ok\n");
  else if (strcmp(a, "syscalls") == 0) attack_syscalls();
  else if (strcmp(a, "int80") == 0) attack_int80();
  else if (strcmp(a, "fork-bomb") == 0) attack_fork_bomb();
  else if (strcmp(a, "thread-bomb") == 0) attack_thread_bomb();
  else if (strcmp(a, "memory-bomb") == 0) attack_memory_bomb();
  else if (strcmp(a, "fill-bytes") == 0) attack_fill_bytes();
  else if (strcmp(a, "efbig") == 0) attack_efbig(1);
  else if (strcmp(a, "xfsz") == 0) attack_efbig(0);
  else if (strcmp(a, "fill-inodes") == 0) attack_fill_inodes();
  else if (strcmp(a, "stdout-flood") == 0) attack_flood(1);
  else if (strcmp(a, "stderr-flood") == 0) attack_flood(2);
  else if (strcmp(a, "busy") == 0) attack_busy();
  else if (strcmp(a, "sleep") == 0) attack_sleep();
  else if (strcmp(a, "sigstop") == 0) attack_sigstop();
  else if (strcmp(a, "daemon") == 0) attack_daemon();
  else if (strcmp(a, "kill") == 0) attack_kill(rest, args);
  else if (strcmp(a, "read") == 0) attack_read(rest, args);
  else if (strcmp(a, "write") == 0) attack_write(rest, args);
  else if (strcmp(a, "devices") == 0) attack_devices();
  else if (strcmp(a, "net") == 0) attack_net(rest, args);
  else {
    fprintf(stderr, "unknown attack %s\n", a);
    return 2;
  }
  return 0;
}
