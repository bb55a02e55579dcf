/*
 * emit.h: compile artifacts streamed back out of the sandbox as a bundle on a pipe.
 */
#ifndef CYLO_EMIT_H
#define CYLO_EMIT_H

#include <stddef.h>

#define EMIT_MAX_PATHS 16

struct emit_plan {
  int fd;                       /* --emit-fd, or -1: no artifact pipe */
  const char *workdir;          /* the workspace the paths are relative to */
  unsigned long long max;       /* --emit-max: total bytes allowed */
  int npaths;
  const char *paths[EMIT_MAX_PATHS];
};

/* Streams every path of PLAN (files or directories) to plan->fd in the bundle format, with the
 * end record. Returns 0, or -1 with the reason in ERROR (the artifact is then refused whole). */
int emit_artifacts(const struct emit_plan *plan, char *error, size_t error_len);

#endif
