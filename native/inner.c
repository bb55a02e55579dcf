/*
 * inner.c: the inner mode (PID 1 inside the sandbox, after bubblewrap's seccomp): its options,
 * and the order of its steps: wait for the job, prepare the workspace, then supervise.
 *
 *   inner --status-fd N --bundle-fd N [--workdir DIR] [--mkdir DIR]...
 *         [--emit-fd N --emit-max BYTES --emit PATH...]
 *         [--emit-fd N --output PATTERN... --output-file-max BYTES --output-max BYTES
 *          --output-max-files N] [--cpu-fd N --cpu-format v1|v2]
 *         [--landlock on|noscope|off] [--ro|--rx|--dev|--rw PATH]... [--connect-tcp PORT]...
 * (built by buildInnerArgv in src/sandbox/bwrap-argv.ts; the program's argv, environment and
 * rlimits are not options: they arrive as the job on the bundle pipe.)
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpu-counter.h"
#include "emit.h"
#include "job.h"
#include "landlock.h"
#include "modes.h"
#include "outputs.h"
#include "supervisor.h"
#include "util.h"

#define MAX_MKDIRS 8

struct inner_options {
  int bundle_fd;
  int nmkdirs;
  const char *mkdirs[MAX_MKDIRS];
  struct emit_plan emit;
  struct output_plan outputs;
  struct landlock_policy landlock;
  struct cpu_counter cpu;
};

/* An fd handed down by Node through bubblewrap: it must be open, and is closed on exec so the
 * program never inherits it. */
static int inherited_fd(const char *v, const char *what) {
  int fd = parse_fd(v, what);
  if (fd < 3 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) fail("%s %s: not an open descriptor", what, v);
  return fd;
}

/* --emit-fd N, --emit-max BYTES and --emit PATH; returns 0 for other options. */
static int emit_option(struct emit_plan *e, const char *a, const char *v) {
  if (strcmp(a, "--emit-fd") == 0) {
    e->fd = inherited_fd(v, "emit fd");
  } else if (strcmp(a, "--emit") == 0) {
    if (e->npaths >= EMIT_MAX_PATHS) fail("too many --emit");
    e->paths[e->npaths++] = v;
  } else if (strcmp(a, "--emit-max") == 0) {
    long long m = parse_num(v, a);
    if (m <= 0) fail("--emit-max must be positive");
    e->max = (unsigned long long)m;
  } else {
    return 0;
  }
  return 1;
}

/* A positive decimal for an --output-* cap. */
static unsigned long long positive(const char *v, const char *a) {
  long long m = parse_num(v, a);
  if (m <= 0) fail("%s must be positive", a);
  return (unsigned long long)m;
}

/* --output PATTERN (a run stage's outputs) and its caps; returns 0 for other options. */
static int output_option(struct output_plan *o, const char *a, const char *v) {
  if (strcmp(a, "--output") == 0) {
    if (o->npatterns >= OUTPUT_MAX_PATTERNS) fail("too many --output");
    o->patterns[o->npatterns++] = v;
  } else if (strcmp(a, "--output-file-max") == 0) {
    o->file_max = positive(v, a);
  } else if (strcmp(a, "--output-max") == 0) {
    o->total_max = positive(v, a);
  } else if (strcmp(a, "--output-max-files") == 0) {
    o->max_files = (unsigned long)positive(v, a);
  } else {
    return 0;
  }
  return 1;
}

static void parse_inner_options(int argc, char **argv, struct inner_options *o) {
  for (int i = 0; i < argc; i += 2) {
    const char *a = argv[i];
    if (i + 1 >= argc) fail("option %s needs a value", a);
    const char *v = argv[i + 1];
    if (strcmp(a, "--status-fd") == 0) {
      set_status_fd(v, a, 1);
    } else if (strcmp(a, "--bundle-fd") == 0) {
      o->bundle_fd = inherited_fd(v, "bundle fd");
    } else if (strcmp(a, "--workdir") == 0) {
      o->emit.workdir = v;
    } else if (strcmp(a, "--cpu-fd") == 0) {
      o->cpu.fd = inherited_fd(v, "cpu counter fd");
    } else if (strcmp(a, "--cpu-format") == 0) {
      o->cpu.format = cpu_counter_format(v);
    } else if (strcmp(a, "--mkdir") == 0) {
      if (o->nmkdirs >= MAX_MKDIRS) fail("too many --mkdir");
      o->mkdirs[o->nmkdirs++] = v;
    } else if (!emit_option(&o->emit, a, v) && !output_option(&o->outputs, a, v) && !landlock_parse_option(&o->landlock, a, v)) {
      fail("unknown inner option %s", a);
    }
  }
  if (o->emit.npaths > 0 && o->emit.fd < 0) fail("--emit needs --emit-fd");
  if (o->outputs.npatterns > 0 && o->emit.fd < 0) fail("--output needs --emit-fd");
  /* One stream on the pipe: a compile stage's artifact or a run stage's outputs, never both. */
  if (o->outputs.npatterns > 0 && o->emit.npaths > 0) fail("--output and --emit go to different stages");
  if (o->outputs.npatterns > 0 && (o->outputs.file_max == 0 || o->outputs.total_max == 0 || o->outputs.max_files == 0))
    fail("--output needs --output-file-max, --output-max and --output-max-files");
  if (o->bundle_fd < 0) fail("inner: --bundle-fd is required (the job arrives there)");
  if ((o->cpu.fd >= 0) != (o->cpu.format != CPU_COUNTER_NONE)) fail("inner: --cpu-fd and --cpu-format go together");
  /* Port rules are Landlock's: with Landlock off they would hold nothing, and a build with
   * network would reach every TCP port (the host refuses first: namespace-backend.ts). */
  if (o->landlock.nports > 0 && !o->landlock.enabled) fail("--connect-tcp needs Landlock (--landlock on|noscope)");
}

void run_inner(int argc, char **argv) {
  static struct inner_options o = {
      .bundle_fd = -1,
      .emit = {.fd = -1, .workdir = "/work", .max = 64ULL << 20},
      .landlock = {.enabled = 1, .scope = 1},
      .cpu = {.fd = -1, .format = CPU_COUNTER_NONE},
  };
  parse_inner_options(argc, argv, &o);
  /* Only PID 1 of a PID namespace may be this supervisor: it kills "every other process"
   * (kill(-1)) before emitting an artifact, and relies on the kernel killing the namespace when
   * it exits. Anywhere else (on the host by mistake) that would reach processes it must not. */
  if (getpid() != 1) fail("inner: not PID 1 of a PID namespace (bubblewrap --as-pid-1 runs this mode)");

  /* Wait for the job: this is where a sandbox started ahead of time sits until it is used. */
  static struct job job;
  read_job(o.bundle_fd, &job);
  struct prestarted pre = {.pid = -1, .handover_fd = -1, .exec_fd = -1, .ready_fd = -1, .reaped = 0, .status = 0};
  if (job.prestart) {
    /* A runtime started ahead (prestart.c): it initialises while this process waits for the
     * request's job, which follows on the same pipe. */
    prestart_runtime(&job, &o.landlock, &o.cpu, &pre);
    read_job(o.bundle_fd, &job);
    if (job.prestart) fail("job: a second pre-start job");
  }

  /* Files arrive through a pipe and are written by the sandbox's own identity into its own fresh
   * tmpfs: the host never writes into a place that untrusted code can reach. */
  for (int d = 0; d < o.nmkdirs; d++)
    if (mkdir(o.mkdirs[d], 0755) < 0 && errno != EEXIST) fail("workspace: mkdir %s: %s", o.mkdirs[d], strerror(errno));
  unpack_bundle(o.bundle_fd, o.emit.workdir);
  close(o.bundle_fd);

  supervise(&job, &o.landlock, &o.emit, &o.outputs, &o.cpu, &pre);
}
