/*
 * workspace.h: the outer helper's root-side steps for the sandbox's resources: the workspace
 * tmpfs (size and inode caps, bubblewrap 0.8 can set only the size) and the OOM score of the
 * plumbing (bubblewrap and PID 1 must never be the OOM killer's victim).
 */
#ifndef CYLO_WORKSPACE_H
#define CYLO_WORKSPACE_H

/* As root, in the outer helper's private mount namespace: mounts a fresh tmpfs (size=BYTES,
 * nr_inodes=INODES, mode 0700, owned by UID/GID, nosuid, nodev) and places an O_PATH fd of its
 * root at FD (inheritable) for bwrap --bind-fd. Fails (setup error) when it cannot. */
void mount_workspace(int fd, long long bytes, long long inodes, long long uid, long long gid);

/* As root: sets this process's oom_score_adj, and with CAP_SYS_RESOURCE oom_score_adj_min, to
 * -1000; every process it becomes or forks (bubblewrap, PID 1) inherits both. Without the
 * capability keeps the service's score, and fails when that is above 0. */
void protect_plumbing_from_oom(void);

/* In the program's process before Landlock and exec: raises its own oom_score_adj to 1000 (the
 * OOM killer's first choice). Fails when it cannot. */
void prefer_program_for_oom(void);

#endif
