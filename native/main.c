/*
 * cylo-helper: the two steps of a cylo sandbox that Node.js cannot perform itself.
 * main.c holds the mode dispatch; each mechanism lives in its own file (see the map below).
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
 *       3. sets its oom_score_adj (and min) to -1000 and, in its private mount namespace, mounts
 *          the workspace tmpfs with size and inode caps for bwrap --bind-fd (workspace.c),
 *       4. drops to the execution's unprivileged uid/gid (setgroups, setresgid, setresuid),
 *       5. exec()s bubblewrap.
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
 *   cylo-helper net --pid PID --uid UID --gid GID -- slirp4netns ...   (as root, on the host)
 *       starts an environment build's user-mode network stack in the sandbox's network
 *       namespace, as the sandbox's uid (netns.c)
 *
 *   cylo-helper spawner --channel-fd N --helper PATH   (as root, on the host, once per instance)
 *       forks outer helpers (the outer mode runs in the forked child) on the service's request over its IPC channel, so that the
 *       service's event loop never forks (spawner.c, spawner-child.c)
 *
 *   cylo-helper landlock-abi               (prints the Landlock ABI of the running kernel, or 0)
 *
 * Both modes report through a status fd (--status-fd): "E<message>\n" on failure, "R\n" right
 * before the exec of the user program (its wall clock starts there), "X <code> <signal>\n" when
 * it has exited (bubblewrap's own exit code folds signals into 128+n; this does not), before it
 * "W <free bytes> <free inodes>\n" (the workspace's statfs when the program ended), and
 * "A<message>\n" when the artifact could not be emitted (see src/sandbox/helper-status.ts).
 *
 * Where each mechanism lives:
 *   outer.c       root side: cgroups, revealing hidden toolchain trees, dropping to the uid
 *   workspace.c   the workspace tmpfs (size, inodes) and the OOM scores of plumbing and program
 *   inner.c       the inner mode's options and the order of its steps
 *   job.c         the bundle pipe: the job (argv, env, rlimits) and unpacking the files
 *   landlock.c    Landlock: ABI negotiation, rules (TCP ports too), scoping
 *   netns.c       the net mode: an environment build's network stack (slirp4netns)
 *   supervisor.c  PID 1: forks the program under its limits, reaps, reports its status
 *   emit.c        streaming compile artifacts back out as a bundle
 *   util.c        fail(), parse_num(), write_all() and the pipe formats' integers
 *   missing-defs.h  kernel definitions the installed headers may lack
 *
 * Written by hand because no library does "apply Landlock between fork and exec" for Node; the
 * same approach is used by OpenAI Codex and Anthropic's sandbox-runtime.
 */
#include <stdio.h>
#include <string.h>

#include "landlock.h"
#include "modes.h"

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "outer") == 0) run_outer(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "inner") == 0) run_inner(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "net") == 0) run_net(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "spawner") == 0) run_spawner(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "landlock-abi") == 0) {
    long abi = landlock_abi();
    if (printf("%ld\n", abi < 0 ? 0 : abi) < 0 || fflush(stdout) != 0) return 1;
    return 0;
  }
  fprintf(stderr, "usage: cylo-helper outer|inner|net|spawner|landlock-abi ...\n");
  return 2;
}
