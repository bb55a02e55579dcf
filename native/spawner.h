/*
 * spawner.h: the spawner mode's pieces (spawner.c: the loop and the protocol; spawner-child.c:
 * forking and exec'ing one outer helper with its stdio sockets).
 */
#ifndef CYLO_SPAWNER_H
#define CYLO_SPAWNER_H

#include <sys/types.h>

/* At most this many fds per child (stdin, stdout, stderr and the helper chain's pipes: 7 today). */
#define SPAWNER_MAX_FDS 16
/* At most this many argv items after "outer" (bubblewrap's argv with many binds stays far below). */
#define SPAWNER_MAX_ARGS 4096

/* Forks a child that execs HELPER with argv {HELPER, "outer", ARGS...} and an empty environment
 * (with IN_PROCESS, when HELPER is this very binary, the child runs the outer mode itself instead
 * of exec'ing it: one exec fewer per sandbox, the same argv, fds, signals and environment),
 * with NFDS new AF_UNIX stream socketpairs as its fds 0..NFDS-1 (what Node's spawn gives a child
 * for 'pipe'), every other fd closed and signals reset. On success returns the pid and stores the
 * parent ends (close-on-exec) in PARENT_FDS; on failure returns -1 with *ERR set to the errno of
 * the step that failed (the child's exec included: it is reported before this returns). */
pid_t spawn_outer(const char *helper, int in_process, char **args, int nargs, int nfds, int parent_fds[], int *err);

#endif
