/*
 * request.c: the zygote's injection request (native/zygote/zygote.c): its options, each checked
 * before anything is done (built by injectionItems in src/sandbox/zygote.ts).
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

#include "../util.h"

/* ------------------------------------------------------------------------------------------ */
/* the request                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static void rlimit_option(struct request *r, char *v) {
  static const struct { const char *name; int resource; } names[] = {
      {"cpu", RLIMIT_CPU}, {"fsize", RLIMIT_FSIZE}, {"data", RLIMIT_DATA}, {"stack", RLIMIT_STACK},
      {"core", RLIMIT_CORE}, {"nproc", RLIMIT_NPROC}, {"nofile", RLIMIT_NOFILE}, {"memlock", RLIMIT_MEMLOCK},
      {"as", RLIMIT_AS}, {"locks", RLIMIT_LOCKS}, {"sigpending", RLIMIT_SIGPENDING}, {"msgqueue", RLIMIT_MSGQUEUE},
      {"nice", RLIMIT_NICE}, {"rtprio", RLIMIT_RTPRIO}, {"rttime", RLIMIT_RTTIME},
  };
  char *first = strchr(v, ':');
  char *second = first == NULL ? NULL : strchr(first + 1, ':');
  if (second == NULL) fail("zygote: --rlimit wants NAME:SOFT:HARD, got %s", v);
  *first = '\0';
  *second = '\0';
  if (r->nrlimits >= MAX_RLIMITS) fail("zygote: too many --rlimit");
  int resource = -1;
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
    if (strcmp(names[k].name, v) == 0) resource = names[k].resource;
  if (resource < 0) fail("zygote: unknown rlimit %s", v);
  long long soft = parse_num(first + 1, "--rlimit soft"), hard = parse_num(second + 1, "--rlimit hard");
  if (soft < 0 || hard < 0 || soft > hard) fail("zygote: --rlimit %s: 0 <= soft <= hard", v);
  r->rlimits[r->nrlimits].resource = resource;
  r->rlimits[r->nrlimits].value.rlim_cur = (rlim_t)soft;
  r->rlimits[r->nrlimits].value.rlim_max = (rlim_t)hard;
  r->nrlimits++;
}

/* A path below the cgroup root: relative, no "..", no empty component. */
static void cgroup_option(struct request *r, const char *v) {
  if (r->ncgroups >= MAX_CGROUPS) fail("zygote: too many --cgroup-procs");
  if (v[0] == '/' || v[0] == '\0' || strstr(v, "..") != NULL || strstr(v, "//") != NULL) fail("zygote: --cgroup-procs wants a path below the cgroup root, got %s", v);
  size_t len = strlen(v);
  if (len < 13 || strcmp(v + len - 13, "/cgroup.procs") != 0) fail("zygote: --cgroup-procs must name a cgroup.procs file, got %s", v);
  r->cgroups[r->ncgroups++] = v;
}

static long long id_option(const char *v, const char *what) {
  long long id = parse_num(v, what);
  if (id <= 0 || id >= (long long)UINT32_MAX) fail("zygote: %s must be an unprivileged id, got %s", what, v);
  return id;
}

/* Parses the NUL-separated items of request_bytes[0..len) into R. */
void parse_request(size_t len, struct request *r) {
  char *items[MAX_ITEMS];
  int n = 0;
  if (len == 0 || request_bytes[len - 1] != '\0') fail("zygote: a request must end with a NUL");
  for (size_t at = 0; at < len; at += strlen(request_bytes + at) + 1) {
    if (n >= MAX_ITEMS) fail("zygote: too many request items");
    items[n++] = request_bytes + at;
  }
  if (n % 2 != 0) fail("zygote: request items come in pairs");
  memset(r, 0, sizeof *r);
  r->bwrap_pid = r->uid = r->gid = r->ns_uid = r->ns_gid = -1;
  r->stderr_to_stdout = -1;
  r->landlock.enabled = 1;
  r->landlock.scope = 1;
  for (int i = 0; i < n; i += 2) {
    const char *a = items[i];
    char *v = items[i + 1];
    if (strcmp(a, "--bwrap-pid") == 0) {
      r->bwrap_pid = parse_num(v, a);
      if (r->bwrap_pid <= 1 || r->bwrap_pid > INT_MAX) fail("zygote: bad --bwrap-pid %s", v);
    } else if (strcmp(a, "--uid") == 0) {
      r->uid = id_option(v, a);
    } else if (strcmp(a, "--gid") == 0) {
      r->gid = id_option(v, a);
    } else if (strcmp(a, "--ns-uid") == 0) {
      r->ns_uid = id_option(v, a);
    } else if (strcmp(a, "--ns-gid") == 0) {
      r->ns_gid = id_option(v, a);
    } else if (strcmp(a, "--stderr-to-stdout") == 0) {
      if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) fail("zygote: --stderr-to-stdout wants 0 or 1");
      r->stderr_to_stdout = v[0] == '1';
    } else if (strcmp(a, "--cgroup-procs") == 0) {
      cgroup_option(r, v);
    } else if (strcmp(a, "--rlimit") == 0) {
      rlimit_option(r, v);
    } else if (!landlock_parse_option(&r->landlock, a, v)) {
      fail("zygote: unknown request option %s", a);
    }
  }
  if (r->bwrap_pid < 0 || r->uid < 0 || r->gid < 0 || r->ns_uid < 0 || r->ns_gid < 0 || r->stderr_to_stdout < 0)
    fail("zygote: a request needs --bwrap-pid, --uid, --gid, --ns-uid, --ns-gid and --stderr-to-stdout");
  if (r->ncgroups == 0) fail("zygote: a request needs at least one --cgroup-procs (the slot's limits)");
  if (r->landlock.nports > 0) fail("zygote: --connect-tcp is for network builds, which never use a zygote");
}

