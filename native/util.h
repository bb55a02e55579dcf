/*
 * util.h: what every mechanism of the helper shares: the status fd and fail() (how a refusal is
 * reported), number parsing, exact writes, and the little-endian integers of the pipe formats.
 */
#ifndef CYLO_UTIL_H
#define CYLO_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Where "E<message>" (and, in the inner mode, "R", "F", "W", "A", "X") lines go; -1 until --status-fd.
 * The protocol is documented in src/sandbox/helper-status.ts. */
extern int status_fd;

/* Replaces every control byte of S (newlines included) with '?', in place: the status fd is a
 * line protocol, and messages quote untrusted names (job items, file names, paths made by the
 * program), so "x\nX 0 0" in a name would otherwise forge an exit line (found by the
 * job-protocol fuzzer, test/security/fuzz-helper.test.ts). */
void one_line(char *s);

/* Reports a setup failure on the status fd (and stderr when there is none), then exits 127. */
void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* A decimal integer, the whole string; refuses anything else naming WHAT. */
long long parse_num(const char *s, const char *what);
/* --status-fd: an open descriptor above stdio (refused on stderr otherwise); CLOEXEC marks it
 * close-on-exec. Sets status_fd. */
void set_status_fd(const char *s, const char *what, int cloexec);
/* A file descriptor number: a decimal integer from 0 to INT_MAX. */
int parse_fd(const char *s, const char *what);

/* Moves this process into the cgroup whose cgroup.procs file is PROCS (O_NOFOLLOW), or fails:
 * done first, so that every later fork is inside that cgroup's limits (outer and net modes). */
void join_cgroup(const char *procs);

/* Writes all of BUF or fails. */
void write_all(int fd, const char *buf, size_t len);

uint32_t get_le32(const unsigned char *p);
uint64_t get_le64(const unsigned char *p);
void put_le32(unsigned char *p, uint32_t v);
void put_le64(unsigned char *p, uint64_t v);

#endif
