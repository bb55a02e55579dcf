/*
 * runtime.c: G, the runtime the zygote forks into a sandbox: every layer PID 1's own runtime has
 * (native/zygote/zygote.c explains the chain), applied between the fork and the return to Python.
 */
#include "zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "../missing-defs.h"
#include "../prestart.h"
#include "../util.h"
#include "../workspace.h"

/* G: everything between the fork into the sandbox and the return to Python. */
void child_g(const struct request *r, mode_t umask_value) {
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

