/*
 * outputs.h: a run stage's output files (a request's `outputs` patterns), streamed back out of
 * the sandbox by PID 1 after every other process of it is dead.
 */
#ifndef CYLO_OUTPUTS_H
#define CYLO_OUTPUTS_H

#include <stddef.h>

#define OUTPUT_MAX_PATTERNS 32

/* Record kinds of the output stream (src/backend/output-bundle.ts decodes them). */
enum output_kind {
  OUTPUT_END = 0,        /* end record; its size field is 1 when the listing was cut short */
  OUTPUT_FILE = 1,       /* a regular file: size = its size, length = the bytes that follow */
  OUTPUT_SYMLINK = 2,    /* skipped: a symbolic link (never followed) */
  OUTPUT_FIFO = 3,       /* skipped: a FIFO (never opened: it could block the read forever) */
  OUTPUT_SOCKET = 4,     /* skipped: a socket */
  OUTPUT_DEVICE = 5,     /* skipped: a character or block device */
  OUTPUT_TOTAL_LIMIT = 6,    /* skipped: the total byte cap was used up (size = its size) */
  OUTPUT_TOO_MANY_FILES = 7, /* skipped: max_files files were already returned */
  OUTPUT_TOO_DEEP = 8,   /* skipped: a directory nested deeper than the walk goes */
  OUTPUT_UNREADABLE = 9, /* skipped: it could not be opened or read (size = the errno) */
};

struct output_plan {
  int npatterns;
  const char *patterns[OUTPUT_MAX_PATTERNS];
  unsigned long long file_max;  /* --output-file-max: content bytes of one file */
  unsigned long long total_max; /* --output-max: content bytes of all files */
  unsigned long max_files;      /* --output-max-files: files returned, and skipped ones listed */
};

/* Walks WORKDIR and streams every entry some pattern matches to FD (records: u32 name_len,
 * u32 kind, u64 size, u64 length, the name, `length` content bytes; little-endian), then the end
 * record. Returns 0, or -1 with the reason in ERROR (the stream is then incomplete: the host
 * refuses it whole). Must run only once every other process of the sandbox is dead. */
int emit_outputs(int fd, const char *workdir, const struct output_plan *plan, char *error, size_t error_len);

#endif
