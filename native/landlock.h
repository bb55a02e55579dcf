/*
 * landlock.h: the Landlock policy of the program (which trees it may read, execute, write) and
 * its application with the ABI the running kernel offers.
 */
#ifndef CYLO_LANDLOCK_H
#define CYLO_LANDLOCK_H

#include <stdint.h>

#include "missing-defs.h"

/* The access sets of the inner mode's --ro, --rx, --dev and --rw options. */
#define LL_ACCESS_RO (LL_FS_READ_FILE | LL_FS_READ_DIR)
#define LL_ACCESS_RX (LL_ACCESS_RO | LL_FS_EXECUTE)
#define LL_ACCESS_DEV (LL_ACCESS_RO | LL_FS_WRITE_FILE | LL_FS_IOCTL_DEV)
#define LL_ACCESS_RW                                                                                   \
  (LL_ACCESS_RX | LL_FS_WRITE_FILE | LL_FS_REMOVE_DIR | LL_FS_REMOVE_FILE | LL_FS_MAKE_DIR |          \
   LL_FS_MAKE_REG | LL_FS_MAKE_SOCK | LL_FS_MAKE_FIFO | LL_FS_MAKE_SYM | LL_FS_REFER | LL_FS_TRUNCATE)

#define LANDLOCK_MAX_RULES 64
#define LANDLOCK_MAX_PORTS 4

struct landlock_rule {
  const char *path;
  uint64_t access;
};

struct landlock_policy {
  int enabled; /* --landlock off: the operator relaxed the layer */
  int scope;   /* --landlock noscope: without ABI 6 scoping */
  int nrules;
  struct landlock_rule rules[LANDLOCK_MAX_RULES];
  /* --connect-tcp PORT: TCP ports the program may connect to (environment builds with network,
   * src/sandbox/build-network.ts); none: every TCP connect and bind is denied (ABI 4). */
  int nports;
  uint16_t connect_ports[LANDLOCK_MAX_PORTS];
};

/* The Landlock ABI of the running kernel, or a negative number when it has none. */
long landlock_abi(void);

/* Restricts the calling process (and its future children) to the policy, with no_new_privs.
 * Refuses (fail) when Landlock is missing or any step fails: never runs with the layer partial. */
void apply_landlock(const struct landlock_policy *policy);

/* --landlock MODE and the rule options --ro/--rx/--dev/--rw PATH and --connect-tcp PORT into P
 * (the inner mode's options, and a zygote's request: native/zygote/zygote.c); returns 0 for any
 * other option. PATH is kept by reference. */
int landlock_parse_option(struct landlock_policy *p, const char *a, const char *v);

#endif
