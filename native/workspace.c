/*
 * workspace.c: the sandbox's resources that bubblewrap cannot set up the way cylo needs.
 *
 * The workspace. bubblewrap's --size/--tmpfs caps a tmpfs's bytes but not its inodes, so a flood
 * of empty files filled the memory cgroup with inodes and dentries until the OOM killer struck
 * (and the program never saw ENOSPC, as it would on a real disk). The outer helper mounts the
 * tmpfs itself, as root, in its private mount namespace (the host's mount table never has it),
 * over /sys (after the cgroups were joined and the CPU counter opened: they live under it): a
 * directory every host cylo runs on has and that no
 * sandbox binds (bubblewrap builds a fresh root without it). bubblewrap then binds it at the
 * workspace through --bind-fd (it re-resolves the fd by its path, as the unprivileged uid, in
 * its own copy of this mount namespace). A fresh tmpfs per sandbox: nothing persists.
 *
 * The OOM score. Workspace pages belong to no process, so in a memory cgroup filled by tmpfs
 * pages every process looks small and the OOM killer could pick bubblewrap or PID 1: the
 * sandbox then ended without the program's status. The kernel's rules (fs/proc/base.c):
 * writing oom_score_adj with CAP_SYS_RESOURCE sets oom_score_adj_min to the same value, and both
 * are inherited on fork; without the capability a process may raise its score freely but lower
 * it only down to its oom_score_adj_min. So:
 *   - the program's process raises its own score to 1000 before exec (no privilege needed): its
 *     badness then exceeds that of any process at 0 or below by the whole memory limit, so it
 *     is the OOM killer's first choice, in its memory cgroup and host-wide, while it lives;
 *   - with Landlock on (it denies every write under /proc) the program cannot write its score
 *     back at all;
 *   - the outer helper (root) sets -1000 on itself before it becomes bubblewrap: where it has
 *     CAP_SYS_RESOURCE, bubblewrap and PID 1 inherit -1000 and min -1000, are never chosen, and
 *     the program (min -1000 too) can never go below them. Where the capability is missing (a
 *     container that drops it, as on cylo's own CI machine), the plumbing keeps the service's
 *     score, which must be 0 or below (else the outer helper refuses).
 * Residual gaps, only with Landlock relaxed by the operator: the program may lower its score
 * down to its min. With CAP_SYS_RESOURCE that is -1000, the plumbing's level (never chosen
 * either): its memory cgroup then has no OOM victim, its allocations fail or stall at the limit
 * until the time limit ends it (timeout, not memory_limit), and a host-wide OOM spares it.
 * Without the capability it is the service's score: a tie with the plumbing, where the larger
 * resident set is chosen and the plumbing could be the victim again; cylo then still reports
 * memory_limit with SIGKILL (src/engine/outcome.ts), but not the program's own status.
 */
#include "workspace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "util.h"

/* Where the workspace is mounted in the outer helper's private mount namespace (see above). */
#define WORKSPACE_STAGE "/sys"

void mount_workspace(int fd, long long bytes, long long inodes, long long uid, long long gid) {
  char data[160];
  /* size: the workspace's bytes (ENOSPC past them); nr_inodes: its files and directories
   * (ENOSPC past them, rather than kernel memory until the OOM killer); mode 0700 and the
   * slot's ids: only the sandbox's own uid can enter it. */
  int n = snprintf(data, sizeof data, "size=%lld,nr_inodes=%lld,mode=0700,uid=%lld,gid=%lld", bytes, inodes, uid, gid);
  if (n < 0 || (size_t)n >= sizeof data) fail("workspace: mount options too long");
  /* nosuid, nodev: no set-id programs and no device nodes in the only writable place. */
  if (mount("cylo-workspace", WORKSPACE_STAGE, "tmpfs", MS_NOSUID | MS_NODEV, data) < 0)
    fail("workspace: cannot mount the workspace tmpfs over %s in the helper's private mount namespace: %s "
         "(cylo needs root and a kernel with tmpfs)", WORKSPACE_STAGE, strerror(errno));
  int dir = open(WORKSPACE_STAGE, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir < 0) fail("workspace: open %s: %s", WORKSPACE_STAGE, strerror(errno));
  if (dir != fd) {
    if (dup2(dir, fd) < 0) fail("workspace: dup2: %s", strerror(errno));
    close(dir);
  } else if (fcntl(fd, F_SETFD, 0) < 0) {
    fail("workspace: fcntl: %s", strerror(errno));
  }
}

/* Writes VALUE to /proc/self/oom_score_adj or fails naming WHO. */
static void write_oom_score_adj(const char *value, const char *who) {
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail("oom: %s: open /proc/self/oom_score_adj: %s", who, strerror(errno));
  size_t len = strlen(value);
  ssize_t w = write(fd, value, len);
  if (w < 0 || (size_t)w != len) fail("oom: %s: write oom_score_adj %s: %s", who, value, w < 0 ? strerror(errno) : "short write");
  close(fd);
}

/* This process's oom_score_adj, or fails. */
static long read_oom_score_adj(void) {
  int fd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("oom: open /proc/self/oom_score_adj: %s", strerror(errno));
  char buf[32];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) fail("oom: read /proc/self/oom_score_adj: %s", n < 0 ? strerror(errno) : "empty");
  buf[n] = '\0';
  return strtol(buf, NULL, 10);
}

void protect_plumbing_from_oom(void) {
  /* With CAP_SYS_RESOURCE this sets oom_score_adj_min to -1000 too (see above). */
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail("oom: open /proc/self/oom_score_adj: %s", strerror(errno));
  ssize_t w = write(fd, "-1000", 5);
  int saved = errno;
  close(fd);
  if (w == 5) return;
  if (saved != EACCES && saved != EPERM) fail("oom: write oom_score_adj -1000: %s", w < 0 ? strerror(saved) : "short write");
  /* Without CAP_SYS_RESOURCE (a container that drops it): the plumbing keeps the service's own
   * score. The program's 1000 still makes it the OOM killer's choice over any plumbing process
   * at 0 or below (its badness exceeds theirs by the whole memory limit); above 0 that is no
   * longer certain, so refuse. */
  long current = read_oom_score_adj();
  if (current > 0)
    fail("oom: the service runs with oom_score_adj %ld and without CAP_SYS_RESOURCE, so the sandbox's plumbing "
         "could be the OOM killer's victim; run cylo with oom_score_adj 0 or below, or grant it CAP_SYS_RESOURCE", current);
}

void prefer_program_for_oom(void) {
  /* This process inherited PID 1's non-dumpable flag, which makes its /proc files belong to
   * root, so it could not open its own oom_score_adj. It is still the helper's code (a fresh
   * fork, the only process besides PID 1; execve decides dumpability again), so being dumpable
   * for these few instructions exposes nothing. */
  if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0) fail("oom: prctl(PR_SET_DUMPABLE, 1): %s", strerror(errno));
  write_oom_score_adj("1000", "the program");
}
