/*
 * emit.c: artifact emission (compile stages).
 *
 * Artifacts leave the sandbox the way sources enter it: as a bundle on a pipe, written by PID 1
 * (not under Landlock, not dumpable, not reachable by the program) after every other process of
 * the sandbox is dead. Only regular files and directories are emitted; a symlink, FIFO, socket
 * or device anywhere in an artifact path refuses the whole artifact. Every component is opened
 * relative to the workspace with O_NOFOLLOW, so nothing outside the workspace is ever read.
 */
#include "emit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

struct emitter {
  int fd;
  unsigned long long max;  /* total bytes allowed (headers, names and contents) */
  unsigned long long used;
  unsigned long files;
  char error[512];
};

#define EMIT_MAX_DEPTH 64
#define EMIT_MAX_FILES 100000UL

static int emit_error(struct emitter *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int emit_error(struct emitter *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->error, sizeof e->error, fmt, ap);
  va_end(ap);
  return -1;
}

static int emit_write(struct emitter *e, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(e->fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return emit_error(e, "writing the artifact: %s", strerror(errno));
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Emits the regular file open at fd (already fstat'ed into st) under NAME. */
static int emit_file(struct emitter *e, int fd, const struct stat *st, const char *name) {
  size_t name_len = strlen(name);
  unsigned long long need = 16ULL + name_len + (unsigned long long)st->st_size;
  if (++e->files > EMIT_MAX_FILES) return emit_error(e, "the artifact has more than %lu files", EMIT_MAX_FILES);
  if (e->used + need > e->max) return emit_error(e, "the artifact is larger than %llu bytes", e->max);
  e->used += need;
  unsigned char hdr[16];
  put_le32(hdr, (uint32_t)name_len);
  put_le32(hdr + 4, (uint32_t)(st->st_mode & 0755));
  put_le64(hdr + 8, (uint64_t)st->st_size);
  if (emit_write(e, hdr, sizeof hdr) < 0 || emit_write(e, name, name_len) < 0) return -1;
  static char buf[1 << 16];
  off_t left = st->st_size;
  while (left > 0) {
    size_t want = left < (off_t)sizeof buf ? (size_t)left : sizeof buf;
    ssize_t n = read(fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return emit_error(e, "reading %s: %s", name, strerror(errno));
    if (n == 0) return emit_error(e, "%s shrank while being read", name);
    if (emit_write(e, buf, (size_t)n) < 0) return -1;
    left -= n;
  }
  return 0;
}

/* Opens NAME under dirfd without following a link and checks it is a file or a directory. */
static int emit_open(struct emitter *e, int dirfd, const char *leaf, const char *name, struct stat *st) {
  struct stat before;
  if (fstatat(dirfd, leaf, &before, AT_SYMLINK_NOFOLLOW) < 0) return emit_error(e, "%s: %s", name, strerror(errno));
  if (!S_ISREG(before.st_mode) && !S_ISDIR(before.st_mode))
    return emit_error(e, "%s is not a regular file or directory (links, devices, FIFOs and sockets are refused)", name);
  int fd = openat(dirfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (S_ISDIR(before.st_mode) ? O_DIRECTORY : 0));
  if (fd < 0) return emit_error(e, "%s: %s", name, strerror(errno));
  if (fstat(fd, st) < 0 || st->st_dev != before.st_dev || st->st_ino != before.st_ino) {
    close(fd);
    return emit_error(e, "%s changed while being emitted", name);
  }
  return fd;
}

static int emit_tree(struct emitter *e, int fd, const struct stat *st, char *name, size_t name_len, int depth);

/* Emits the entry LEAF of the directory open at fd, NAME (of length name_len) being the
 * directory's own bundle name; NAME is restored before returning. */
static int emit_entry(struct emitter *e, int fd, const char *leaf, char *name, size_t name_len, int depth) {
  size_t leaf_len = strlen(leaf);
  if (name_len + 1 + leaf_len >= PATH_MAX) return emit_error(e, "%s/%s: path too long", name, leaf);
  name[name_len] = '/';
  memcpy(name + name_len + 1, leaf, leaf_len + 1);
  struct stat cst;
  int rc = -1;
  int cfd = emit_open(e, fd, leaf, name, &cst);
  if (cfd >= 0) {
    rc = emit_tree(e, cfd, &cst, name, name_len + 1 + leaf_len, depth + 1);
    close(cfd);
  }
  name[name_len] = '\0';
  return rc;
}

static int emit_tree(struct emitter *e, int fd, const struct stat *st, char *name, size_t name_len, int depth) {
  if (S_ISREG(st->st_mode)) return emit_file(e, fd, st, name);
  if (depth > EMIT_MAX_DEPTH) return emit_error(e, "%s: directories nested deeper than %d", name, EMIT_MAX_DEPTH);
  int listfd = dup(fd);
  if (listfd < 0) return emit_error(e, "dup: %s", strerror(errno));
  DIR *dir = fdopendir(listfd);
  if (dir == NULL) {
    close(listfd);
    return emit_error(e, "%s: %s", name, strerror(errno));
  }
  int rc = 0;
  struct dirent *d;
  while (rc == 0 && (errno = 0, d = readdir(dir)) != NULL) {
    if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0) continue;
    rc = emit_entry(e, fd, d->d_name, name, name_len, depth);
  }
  if (rc == 0 && errno != 0) rc = emit_error(e, "listing %s: %s", name, strerror(errno));
  closedir(dir);
  return rc;
}

/* Emits PATH (relative to the workspace; a file or a directory) into the bundle. */
static int emit_path(struct emitter *e, int rootfd, const char *path) {
  char name[PATH_MAX];
  if (strlen(path) >= sizeof name) return emit_error(e, "artifact path too long");
  strcpy(name, path);
  int dirfd = dup(rootfd);
  if (dirfd < 0) return emit_error(e, "dup: %s", strerror(errno));
  /* Walk the parent components one by one, each a real directory (never a link). */
  char *p = name;
  for (;;) {
    char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
      close(dirfd);
      return emit_error(e, "bad artifact path %s", path);
    }
    if (slash == NULL) break;
    *slash = '\0';
    int next = openat(dirfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    *slash = '/';
    if (next < 0) {
      close(dirfd);
      return emit_error(e, "%s: %s", path, errno == ELOOP || errno == ENOTDIR ? "a parent is not a directory" : strerror(errno));
    }
    close(dirfd);
    dirfd = next;
    p = slash + 1;
  }
  struct stat st;
  int fd = emit_open(e, dirfd, p, path, &st);
  close(dirfd);
  if (fd < 0) return -1;
  int rc = emit_tree(e, fd, &st, name, strlen(name), 0);
  close(fd);
  return rc;
}

int emit_artifacts(const struct emit_plan *plan, char *error, size_t error_len) {
  struct emitter e = {.fd = plan->fd, .max = plan->max, .used = 0, .files = 0, .error = {0}};
  int rootfd = open(plan->workdir, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_RDONLY);
  int rc = rootfd < 0 ? emit_error(&e, "open %s: %s", plan->workdir, strerror(errno)) : 0;
  for (int k = 0; rc == 0 && k < plan->npaths; k++) rc = emit_path(&e, rootfd, plan->paths[k]);
  if (rootfd >= 0) close(rootfd);
  if (rc == 0) {
    unsigned char end[16] = {0};
    rc = emit_write(&e, end, sizeof end);
  }
  if (rc < 0) snprintf(error, error_len, "%s", e.error);
  return rc;
}
