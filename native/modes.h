/*
 * modes.h: the helper's modes, each the whole life of one process, dispatched by main.c.
 */
#ifndef CYLO_MODES_H
#define CYLO_MODES_H

/* outer.c: as root on the host, before bubblewrap. Never returns (exec()s bubblewrap or fails). */
void run_outer(int argc, char **argv) __attribute__((noreturn));

/* inner.c: PID 1 inside the sandbox. Never returns (exits with the program's status or fails). */
void run_inner(int argc, char **argv) __attribute__((noreturn));

/* netns.c: as root on the host, starts an environment build's network stack as the sandbox's
 * uid. Never returns (exec()s slirp4netns or fails). */
void run_net(int argc, char **argv) __attribute__((noreturn));

/* spawner.c: as root on the host, once per cylo instance: forks and execs outer helpers on the
 * service's request, off its event loop. Never returns (exits when the service's channel closes). */
void run_spawner(int argc, char **argv) __attribute__((noreturn));

#endif
