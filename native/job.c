/*
 * job.c: the bundle pipe protocol of the inner mode. First the job (argv, environment,
 * rlimits), then the request's files, which are unpacked into the workspace. Every length is
 * bounded before anything is allocated, and no file name may leave the workspace.
 */
#include "job.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static void read_exact(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("workspace: reading files: %s", strerror(errno));
    if (n == 0) fail("workspace: file bundle ended early");
    p += n;
    len -= (size_t)n;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* the job                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* What to run arrives on the bundle pipe, before the files, rather than on the command line: a
 * sandbox can then be started ahead of time (bubblewrap's few milliseconds off the request's
 * path) and wait here for its job. Written by encodeJob in src/backend/file-bundle.ts:
 *   "CYJ2" (the format's version is its last character), u32 flags, then three lists (argv,
 *   environment "K=V", rlimits "name=value"), each u32 count followed by count x { u32 len;
 *   bytes }. Only this version is read: the helper is built with the cylo that writes the job,
 *   so any other header is a mismatch (or garbage) to refuse, never to guess at. */
#define JOB_MAX_ITEMS 4096
#define JOB_MAX_BYTES (8U << 20)

static uint32_t read_u32(int fd) {
  unsigned char b[4];
  read_exact(fd, b, 4);
  return get_le32(b);
}

static char **read_list(int fd, size_t *total) {
  uint32_t n = read_u32(fd);
  if (n > JOB_MAX_ITEMS) fail("job: too many items (%u)", n);
  char **list = calloc((size_t)n + 1, sizeof *list);
  if (list == NULL) fail("job: out of memory");
  for (uint32_t k = 0; k < n; k++) {
    uint32_t len = read_u32(fd);
    *total += len;
    if (*total > JOB_MAX_BYTES) fail("job: larger than %u bytes", JOB_MAX_BYTES);
    list[k] = malloc((size_t)len + 1);
    if (list[k] == NULL) fail("job: out of memory");
    read_exact(fd, list[k], len);
    list[k][len] = '\0';
    if (memchr(list[k], '\0', len) != NULL) fail("job: NUL inside an item");
  }
  return list;
}

static int rlimit_by_name(const char *name) {
  if (strcmp(name, "core") == 0) return RLIMIT_CORE;
  if (strcmp(name, "fsize") == 0) return RLIMIT_FSIZE;
  if (strcmp(name, "nofile") == 0) return RLIMIT_NOFILE;
  if (strcmp(name, "stack") == 0) return RLIMIT_STACK;
  if (strcmp(name, "nproc") == 0) return RLIMIT_NPROC;
  if (strcmp(name, "cpu") == 0) return RLIMIT_CPU;
  if (strcmp(name, "memlock") == 0) return RLIMIT_MEMLOCK;
  if (strcmp(name, "msgqueue") == 0) return RLIMIT_MSGQUEUE;
  fail("unknown rlimit %s", name);
}

/* An rlimit's value: decimal digits only, at most 2^63 - 1. parse_num's strtoll alone took
 * "-1", which the cast to rlim_t turned into RLIM_INFINITY: a job could lift the very limit it
 * names (found by the job-protocol fuzzer, test/security/fuzz-helper.test.ts); it also took
 * " 5" and "+5". */
static rlim_t rlimit_value(const char *name, const char *v) {
  if (v[0] == '\0' || strspn(v, "0123456789") != strlen(v))
    fail("job: rlimit %s wants a decimal number of 0 or more, got \"%.40s\"", name, v);
  return (rlim_t)parse_num(v, name); /* refuses values above 2^63 - 1 (ERANGE) */
}

void read_job(int fd, struct job *job) {
  char magic[4];
  read_exact(fd, magic, 4);
  if (memcmp(magic, "CYJ", 3) == 0 && magic[3] != '2')
    fail("job: format version %c, this helper reads version 2 (rebuild the helper with this cylo: npm run build)", magic[3]);
  if (memcmp(magic, "CYJ2", 4) != 0) fail("job: bad header");
  uint32_t flags = read_u32(fd);
  /* An unknown bit is a job this helper does not understand: refused rather than ignored. */
  if ((flags & ~JOB_KNOWN_FLAGS) != 0) fail("job: unknown flags 0x%x", flags & ~JOB_KNOWN_FLAGS);
  job->stderr_to_stdout = (flags & JOB_FLAG_STDERR_TO_STDOUT) != 0;
  job->prestart = (flags & JOB_FLAG_PRESTART) != 0;
  job->handover = (flags & JOB_FLAG_HANDOVER) != 0;
  job->zygote = (flags & JOB_FLAG_ZYGOTE) != 0;
  if (job->zygote && !job->prestart) fail("job: only a pre-start job comes from a zygote");
  if (job->prestart && job->handover) fail("job: a pre-start job cannot be a handover");
  size_t total = 0;
  job->argv = read_list(fd, &total);
  job->env = read_list(fd, &total);
  char **limits = read_list(fd, &total);
  if (job->handover && job->env[0] != NULL) fail("job: a handover carries no environment (the runtime's was fixed at pre-start)");
  if (job->argv[0] == NULL || job->argv[0][0] != '/') fail("job: the program must be an absolute path");
  if (job->handover && job->argv[1] == NULL) fail("job: a handover names the interpreter and the entry");
  job->nrlimits = 0;
  for (char **l = limits; *l != NULL; l++) {
    char *eq = strchr(*l, '=');
    if (eq == NULL) fail("job: rlimit wants NAME=VALUE");
    *eq = '\0';
    if (job->nrlimits >= JOB_MAX_RLIMITS) fail("job: more than %d rlimits", JOB_MAX_RLIMITS);
    struct job_limit *lim = &job->rlimits[job->nrlimits++];
    lim->resource = rlimit_by_name(*l);
    lim->value.rlim_cur = lim->value.rlim_max = rlimit_value(*l, eq + 1);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* the files                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Create the parent directories of NAME under dirfd, refusing any component that is empty,
 * "." or "..". Returns an fd for the parent directory and sets *base to the last component. */
static int open_parent(int rootfd, char *name, char **base) {
  int dirfd = dup(rootfd);
  if (dirfd < 0) fail("workspace: dup: %s", strerror(errno));
  char *p = name;
  for (;;) {
    char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
      fail("workspace: refusing file name component in %s", name);
    if (slash == NULL) break;
    *slash = '\0';
    if (mkdirat(dirfd, p, 0755) < 0 && errno != EEXIST) fail("workspace: mkdir %s: %s", p, strerror(errno));
    int next = openat(dirfd, p, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_RDONLY);
    if (next < 0) fail("workspace: open dir %s: %s", p, strerror(errno));
    close(dirfd);
    dirfd = next;
    *slash = '/';
    p = slash + 1;
  }
  *base = p;
  return dirfd;
}

/* Copies SIZE bytes of the pipe FD into the file OUT (NAME for messages). */
static void copy_content(int fd, int out, uint64_t size, const char *name) {
  static char buf[1 << 16];
  while (size > 0) {
    size_t chunk = size < sizeof buf ? (size_t)size : sizeof buf;
    read_exact(fd, buf, chunk);
    ssize_t off = 0;
    while ((size_t)off < chunk) {
      ssize_t n = write(out, buf + off, chunk - (size_t)off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail("workspace: writing %s: %s (is the workspace limit too small?)", name, strerror(errno));
      off += n;
    }
    size -= chunk;
  }
}

/* Files arrive through a pipe and are written by the sandbox's own identity into its own fresh
 * tmpfs: the host never writes into a place that untrusted code can reach.
 * Bundle format (little-endian), written by src/backend/file-bundle.ts:
 *   repeated { u32 name_len; u32 mode; u64 size; name bytes; content bytes }, ended by name_len 0. */
void unpack_bundle(int fd, const char *workdir) {
  int rootfd = open(workdir, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_RDONLY);
  if (rootfd < 0) fail("workspace: open %s: %s", workdir, strerror(errno));
  for (;;) {
    unsigned char hdr[16];
    read_exact(fd, hdr, sizeof hdr);
    uint32_t name_len = get_le32(hdr);
    uint32_t mode = get_le32(hdr + 4);
    uint64_t size = get_le64(hdr + 8);
    if (name_len == 0) break;
    if (name_len >= PATH_MAX) fail("workspace: file name too long");
    char name[PATH_MAX];
    read_exact(fd, name, name_len);
    name[name_len] = '\0';
    if (name[0] == '/' || memchr(name, '\0', name_len) != NULL) fail("workspace: bad file name");
    char *base = NULL;
    int dirfd = open_parent(rootfd, name, &base);
    /* O_EXCL|O_NOFOLLOW: never write through a link or over an existing file. */
    int out = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)(mode & 0755));
    if (out < 0) fail("workspace: create %s: %s", name, strerror(errno));
    copy_content(fd, out, size, name);
    close(out);
    close(dirfd);
  }
  close(rootfd);
}
