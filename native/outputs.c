/*
 * outputs.c: the files a run stage's program wrote, read INSIDE the sandbox by PID 1 (never by
 * the host, which must not follow, read or open anything untrusted code could touch) and
 * streamed out through a pipe, the way compile artifacts leave (emit.c).
 *
 * When this runs, every other process of the sandbox is dead (supervisor.c kills them and
 * reaps them first): nothing can swap a file for a link, grow it, or turn it into a FIFO
 * between the checks below and the read. Each check still stands on its own:
 *  - every directory is opened relative to its parent with O_NOFOLLOW|O_DIRECTORY, and every
 *    entry is looked at with fstatat(AT_SYMLINK_NOFOLLOW): a symlink (to /etc/passwd, to a
 *    directory outside) is reported as skipped and never followed, so nothing outside the
 *    workspace is ever read;
 *  - only regular files are opened, with O_NOFOLLOW|O_NONBLOCK, and the open file must be the
 *    inode fstatat saw: a FIFO, socket or device is never opened (a FIFO would block the read,
 *    a device could be anything);
 *  - hard links to files outside the workspace are impossible: the workspace is its own tmpfs,
 *    and link(2) cannot cross filesystems (EXDEV); within the workspace the program could only
 *    link its own files;
 *  - the walk stops at a depth, a file count and the byte caps, so a program that wrote a deep
 *    tree or a million files cannot make PID 1 stream without end.
 * PID 1 is not under Landlock but is bound by the same read-only mounts as the program: the
 * workspace is the only tree it walks.
 */
#include "outputs.h"

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

#include "pattern.h"
#include "util.h"

/* Deeper directories are reported (OUTPUT_TOO_DEEP), not walked: a bound on PID 1's stack and fds. */
#define OUTPUT_MAX_DEPTH 32

struct walker {
  int fd;
  const struct output_plan *plan;
  unsigned long long used; /* content bytes sent */
  unsigned long files;     /* files sent */
  unsigned long skipped;   /* skipped entries listed */
  int cut;                 /* the listing was cut short (more skipped entries than listed) */
  char error[512];
};

static int walk_error(struct walker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int walk_error(struct walker *w, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->error, sizeof w->error, fmt, ap);
  va_end(ap);
  return -1;
}

static int out_write(struct walker *w, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(w->fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return walk_error(w, "writing the output files: %s", strerror(errno));
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int out_header(struct walker *w, const char *name, enum output_kind kind, uint64_t size, uint64_t length) {
  size_t name_len = strlen(name);
  unsigned char hdr[24];
  put_le32(hdr, (uint32_t)name_len);
  put_le32(hdr + 4, (uint32_t)kind);
  put_le64(hdr + 8, size);
  put_le64(hdr + 16, length);
  if (out_write(w, hdr, sizeof hdr) < 0) return -1;
  return out_write(w, name, name_len);
}

/* A matched entry that is not returned, listed with why; past max_files of them the listing is
 * cut (the end record says so), so a flood of links or FIFOs cannot make the stream unbounded. */
static int out_skip(struct walker *w, const char *name, enum output_kind kind, uint64_t size) {
  if (w->skipped >= w->plan->max_files) {
    w->cut = 1;
    return 0;
  }
  w->skipped++;
  return out_header(w, name, kind, size, 0);
}

static enum output_kind kind_of(mode_t mode) {
  if (S_ISLNK(mode)) return OUTPUT_SYMLINK;
  if (S_ISFIFO(mode)) return OUTPUT_FIFO;
  if (S_ISSOCK(mode)) return OUTPUT_SOCKET;
  return OUTPUT_DEVICE;
}

/* Sends LENGTH bytes of the file open at fd; the header already promised them, so a short read
 * is an error (the stream would be corrupt): it cannot happen with every writer dead. */
static int out_content(struct walker *w, int fd, const char *name, unsigned long long length) {
  static char buf[1 << 16];
  while (length > 0) {
    size_t want = length < sizeof buf ? (size_t)length : sizeof buf;
    ssize_t n = read(fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return walk_error(w, "reading %s: %s", name, strerror(errno));
    if (n == 0) return walk_error(w, "%s shrank while being read", name);
    if (out_write(w, buf, (size_t)n) < 0) return -1;
    length -= (unsigned long long)n;
  }
  return 0;
}

/* The regular file LEAF of dirfd (seen by fstatat as ST), as NAME: whole, cut at the per-file
 * or the remaining total cap, or skipped when no file or byte is left to send. */
static int out_file(struct walker *w, int dirfd, const char *leaf, const char *name, const struct stat *st) {
  const struct output_plan *p = w->plan;
  unsigned long long size = (unsigned long long)st->st_size;
  if (w->files >= p->max_files) return out_skip(w, name, OUTPUT_TOO_MANY_FILES, size);
  unsigned long long left = p->total_max - w->used;
  if (left == 0 && size > 0) return out_skip(w, name, OUTPUT_TOTAL_LIMIT, size);
  /* O_NOFOLLOW: never through a link; O_NONBLOCK: an open that could block (a FIFO put in the
   * file's place) returns at once; the inode must be the one fstatat saw. */
  int fd = openat(dirfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  struct stat now;
  if (fd < 0) return out_skip(w, name, OUTPUT_UNREADABLE, (uint64_t)errno);
  if (fstat(fd, &now) < 0 || !S_ISREG(now.st_mode) || now.st_ino != st->st_ino || now.st_dev != st->st_dev || now.st_size != st->st_size) {
    close(fd);
    return walk_error(w, "%s changed while the output files were read", name);
  }
  unsigned long long length = size;
  if (length > p->file_max) length = p->file_max;
  if (length > left) length = left;
  w->files++;
  w->used += length;
  int rc = out_header(w, name, OUTPUT_FILE, size, length);
  if (rc == 0) rc = out_content(w, fd, name, length);
  close(fd);
  return rc;
}

static int walk_dir(struct walker *w, int dirfd, char *name, size_t name_len, int depth);

static int any_match(const struct output_plan *p, const char *name, int below) {
  for (int k = 0; k < p->npatterns; k++)
    if (below ? pattern_may_match_below(p->patterns[k], name) : pattern_match(p->patterns[k], name)) return 1;
  return 0;
}

/* The entry LEAF of the directory open at dirfd; NAME (of name_len) is that directory's path
 * and is restored before returning. */
static int walk_entry(struct walker *w, int dirfd, const char *leaf, char *name, size_t name_len, int depth) {
  size_t leaf_len = strlen(leaf);
  size_t at = name_len == 0 ? 0 : name_len + 1;
  if (at + leaf_len >= PATH_MAX) return 0; /* cannot be named in a bundle: not a match */
  if (name_len > 0) name[name_len] = '/';
  memcpy(name + at, leaf, leaf_len + 1);
  int rc = 0;
  struct stat st;
  /* AT_SYMLINK_NOFOLLOW: the entry itself, never what a link points to. */
  if (fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (any_match(w->plan, name, 0)) rc = out_skip(w, name, OUTPUT_UNREADABLE, (uint64_t)errno);
  } else if (S_ISREG(st.st_mode)) {
    if (any_match(w->plan, name, 0)) rc = out_file(w, dirfd, leaf, name, &st);
  } else if (S_ISDIR(st.st_mode)) {
    if (!any_match(w->plan, name, 1)) {
      /* no pattern reaches below it: not walked */
    } else if (depth + 1 > OUTPUT_MAX_DEPTH) {
      rc = out_skip(w, name, OUTPUT_TOO_DEEP, 0);
    } else {
      /* O_NOFOLLOW|O_DIRECTORY: the directory fstatat saw, not a link put in its place. */
      int sub = openat(dirfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        rc = out_skip(w, name, OUTPUT_UNREADABLE, (uint64_t)errno);
      } else {
        rc = walk_dir(w, sub, name, at + leaf_len, depth + 1);
        close(sub);
      }
    }
  } else if (any_match(w->plan, name, 0) || any_match(w->plan, name, 1)) {
    /* A link, FIFO, socket or device that a pattern names or would walk through: reported,
     * never opened or followed (a link to /etc/passwd or to a directory outside stays unread). */
    rc = out_skip(w, name, kind_of(st.st_mode), 0);
  }
  if (name_len > 0) name[name_len] = '\0';
  else name[0] = '\0';
  return rc;
}

static int walk_dir(struct walker *w, int dirfd, char *name, size_t name_len, int depth) {
  int listfd = dup(dirfd);
  if (listfd < 0) return walk_error(w, "dup: %s", strerror(errno));
  DIR *dir = fdopendir(listfd);
  if (dir == NULL) {
    close(listfd);
    return walk_error(w, "listing %s: %s", name_len == 0 ? "the workspace" : name, strerror(errno));
  }
  int rc = 0;
  struct dirent *d;
  while (rc == 0 && !w->cut && (errno = 0, d = readdir(dir)) != NULL) {
    if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0) continue;
    rc = walk_entry(w, dirfd, d->d_name, name, name_len, depth);
  }
  if (rc == 0 && !w->cut && errno != 0) rc = walk_error(w, "listing %s: %s", name_len == 0 ? "the workspace" : name, strerror(errno));
  closedir(dir);
  return rc;
}

int emit_outputs(int fd, const char *workdir, const struct output_plan *plan, char *error, size_t error_len) {
  struct walker w = {.fd = fd, .plan = plan, .used = 0, .files = 0, .skipped = 0, .cut = 0, .error = {0}};
  int rootfd = open(workdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  static char name[PATH_MAX];
  name[0] = '\0';
  int rc = rootfd < 0 ? walk_error(&w, "open %s: %s", workdir, strerror(errno)) : walk_dir(&w, rootfd, name, 0, 0);
  if (rootfd >= 0) close(rootfd);
  if (rc == 0) {
    unsigned char end[24] = {0};
    put_le64(end + 8, w.cut ? 1 : 0);
    rc = out_write(&w, end, sizeof end);
  }
  if (rc < 0) snprintf(error, error_len, "%s", w.error);
  return rc;
}
