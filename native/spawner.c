/*
 * spawner.c: the spawner mode, which takes fork() off the service's event loop. Node's
 * child_process.spawn forks the whole service (0.5-1 ms of a blocked event loop per execution,
 * growing with its memory); this small process, started once per cylo instance, forks instead.
 *
 *   cylo-helper spawner --channel-fd N --helper PATH
 *
 * The channel is Node's own IPC channel (spawn with stdio 'ipc'): a socketpair inherited at start,
 * no path anyone else can connect to. Node has no API to send or receive fds over a Unix socket
 * except this channel, whose handle passing ("NODE_HANDLE" with SCM_RIGHTS) turns a received
 * AF_UNIX stream socket into a net.Socket. Lines are JSON; the spawner only speaks a subset:
 *
 *   from Node:  "S <id> <nfds> <arg>..."   spawn PATH outer <args> (each base64, "." for "")
 *               "K <id> <signal>"          signal that child if it has not been reaped yet
 *               {"cmd":"NODE_HANDLE_ACK"}  Node's acknowledgement of a handle (ignored)
 *   to Node:    "p <id> <pid>"             started (the exec succeeded), then one
 *               {"cmd":"NODE_HANDLE","type":"net.Socket","msg":"h <id> <i>"} per fd i, fd attached
 *               "e <id> <errno>"           could not start (socketpair, fork or exec failed)
 *               "x <id> <code> <signal>"   the child exited (code -1 when a signal ended it)
 *               "! <reason>"               a refused message (nothing was started)
 *
 * Security: the spawner runs as root, as the outer helper does, and execs only PATH (its own
 * argument, given by the service at start) in outer mode: a message chooses the outer helper's
 * arguments, exactly what the service's argv chose before, never the program or the mode. Every
 * message is checked (length, counts, alphabet) before anything is done. It owns its children
 * until it reaps them, so a kill never reaches a reused pid. It is a child subreaper: descendants
 * orphaned by their parent's death are reaped here at once. When the channel closes (the service
 * ended or died) it kills every child it has not reaped and exits. Each child gets only its own
 * sockets (spawner-child.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "modes.h"
#include "spawner.h"
#include "util.h"

#define MAX_LINE (1 << 20) /* a bubblewrap argv is tens of KiB; more is refused */
#define MAX_CHILDREN 4096

struct kid {
  uint32_t id;
  pid_t pid; /* 0: free slot */
};

static struct kid kids[MAX_CHILDREN];
static int channel = -1;
static const char *helper;
/* HELPER is this very binary (same device and inode as /proc/self/exe at start): each child runs
 * the outer mode in its own process instead of exec'ing the same code again (spawner-child.c). A
 * stand-in helper (the tests') is exec'd as always. */
static int helper_in_process;

/* Writes all of BUF to the channel; the service gone (EPIPE) ends the spawner like an EOF. */
static void send_all(const void *buf, size_t len, int fd_to_pass);

static void kill_children_and_exit(int code) {
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (kids[i].pid > 0) kill(kids[i].pid, SIGKILL); /* unreaped: the pid is still ours */
  _exit(code);
}

static void send_all(const void *buf, size_t len, int fd_to_pass) {
  const char *p = buf;
  while (len > 0) {
    struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    if (fd_to_pass >= 0) {
      /* The fd goes with the first byte of its NODE_HANDLE line, as Node's own sender does. */
      memset(&control, 0, sizeof control);
      msg.msg_control = control.buf;
      msg.msg_controllen = sizeof control.buf;
      struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
    }
    ssize_t n = sendmsg(channel, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) kill_children_and_exit(0);
    fd_to_pass = -1;
    p += n;
    len -= (size_t)n;
  }
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...) {
  char line[512];
  line[0] = '"';
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line + 1, sizeof line - 3, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof line - 4) n = (int)sizeof line - 4;
  line[n + 1] = '"';
  line[n + 2] = '\n';
  send_all(line, (size_t)n + 3, -1);
}

static struct kid *find_kid(uint32_t id) {
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (kids[i].pid > 0 && kids[i].id == id) return &kids[i];
  return NULL;
}

/* Decodes standard base64 in place ("." is the empty string); -1 when it is not base64 or holds
 * a NUL (an argv item cannot). */
static int unbase64(char *s) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (strcmp(s, ".") == 0) { s[0] = '\0'; return 0; }
  size_t len = strlen(s), out = 0;
  if (len == 0 || len % 4 != 0) return -1;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '=') {
      if (i < len - 2 || (i == len - 2 && s[len - 1] != '=')) return -1;
      break;
    }
    const char *at = strchr(alphabet, s[i]);
    if (at == NULL || s[i] == '\0') return -1;
    acc = (acc << 6) | (uint32_t)(at - alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      char c = (char)((acc >> bits) & 0xff);
      if (c == '\0') return -1;
      s[out++] = c;
    }
  }
  s[out] = '\0';
  return 0;
}

/* A decimal number from 0 to MAX, the whole token; -1 otherwise. */
static long long number(const char *s, long long max) {
  if (s == NULL || *s == '\0' || strlen(s) > 12) return -1;
  long long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (*p - '0');
  }
  return v <= max ? v : -1;
}

static void do_spawn(char **tok, int ntok) {
  long long id = ntok >= 3 ? number(tok[1], UINT32_MAX) : -1;
  long long nfds = ntok >= 3 ? number(tok[2], SPAWNER_MAX_FDS) : -1;
  if (id < 0 || nfds < 3) { reply("! a spawn needs an id and 3..%d fds", SPAWNER_MAX_FDS); return; }
  if (ntok - 3 > SPAWNER_MAX_ARGS) { reply("! more than %d arguments", SPAWNER_MAX_ARGS); return; }
  if (find_kid((uint32_t)id) != NULL) { reply("! id %lld is already running", id); return; }
  struct kid *slot = NULL;
  for (int i = 0; i < MAX_CHILDREN && slot == NULL; i++)
    if (kids[i].pid == 0) slot = &kids[i];
  if (slot == NULL) { reply("e %lld %d", id, EAGAIN); return; }
  for (int i = 3; i < ntok; i++)
    if (unbase64(tok[i]) != 0) { reply("! argument %d of spawn %lld is not base64 without NUL", i - 3, id); return; }
  int fds[SPAWNER_MAX_FDS], err = 0;
  pid_t pid = spawn_outer(helper, helper_in_process, tok + 3, ntok - 3, (int)nfds, fds, &err);
  if (pid < 0) { reply("e %lld %d", id, err); return; }
  slot->id = (uint32_t)id;
  slot->pid = pid;
  reply("p %lld %d", id, (int)pid);
  for (int i = 0; i < nfds; i++) {
    char line[128];
    int n = snprintf(line, sizeof line, "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":\"h %lld %d\"}\n", id, i);
    send_all(line, (size_t)n, fds[i]);
    close(fds[i]); /* in flight, the service's copy is its own */
  }
}

static void do_kill(char **tok, int ntok) {
  long long id = ntok == 3 ? number(tok[1], UINT32_MAX) : -1;
  long long sig = ntok == 3 ? number(tok[2], 64) : -1;
  if (id < 0 || sig < 1) { reply("! a kill needs an id and a signal from 1 to 64"); return; }
  struct kid *k = find_kid((uint32_t)id);
  /* Gone already (reaped, its exit sent or on its way): nothing to signal, and the pid may be
   * someone else's by now. */
  if (k != NULL) kill(k->pid, (int)sig);
}

/* One line from the service: a JSON string of tokens, or Node's handle acknowledgement. */
static void handle_line(char *line, size_t len) {
  if (strcmp(line, "{\"cmd\":\"NODE_HANDLE_ACK\"}") == 0) return;
  if (len < 2 || line[0] != '"' || line[len - 1] != '"') { reply("! not a spawner message"); return; }
  line[len - 1] = '\0';
  char *body = line + 1;
  /* No JSON escapes in this subset: letters, digits, base64 and single spaces only. */
  for (char *p = body; *p; p++)
    if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=. ", *p) == NULL || (p[0] == ' ' && p[1] == ' ')) {
      reply("! a spawner message holds only base64 tokens and single spaces");
      return;
    }
  static char *tok[SPAWNER_MAX_ARGS + 4];
  int ntok = 0;
  for (char *save = NULL, *t = strtok_r(body, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
    if (ntok == SPAWNER_MAX_ARGS + 4) { reply("! too many tokens"); return; }
    tok[ntok++] = t;
  }
  if (ntok > 0 && strcmp(tok[0], "S") == 0) do_spawn(tok, ntok);
  else if (ntok > 0 && strcmp(tok[0], "K") == 0) do_kill(tok, ntok);
  else reply("! unknown spawner message");
}

/* Reaps every child that has ended and reports the exits of those the service knows (its own
 * children; orphaned descendants re-parented to this subreaper are reaped silently). */
static void reap(void) {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (int i = 0; i < MAX_CHILDREN; i++) {
      if (kids[i].pid != pid) continue;
      kids[i].pid = 0;
      if (WIFSIGNALED(status)) reply("x %u -1 %d", kids[i].id, WTERMSIG(status));
      else reply("x %u %d 0", kids[i].id, WEXITSTATUS(status));
    }
  }
}

/* Reads what the channel holds and handles each complete line; an overlong line is refused and
 * skipped up to its newline. EOF (the service ended) kills the children and exits. */
static void read_channel(char *buf, size_t *used, int *skipping) {
  ssize_t n = read(channel, buf + *used, MAX_LINE - *used);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) kill_children_and_exit(0);
  *used += (size_t)n;
  size_t start = 0;
  for (size_t i = 0; i < *used; i++) {
    if (buf[i] != '\n') continue;
    buf[i] = '\0';
    if (!*skipping) handle_line(buf + start, i - start);
    *skipping = 0;
    start = i + 1;
  }
  memmove(buf, buf + start, *used - start);
  *used -= start;
  if (*used == MAX_LINE) {
    reply("! a message longer than %d bytes", MAX_LINE);
    *skipping = 1;
    *used = 0;
  }
}

void run_spawner(int argc, char **argv) {
  int fd = -1;
  for (int i = 0; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--channel-fd") == 0) fd = parse_fd(argv[i + 1], "--channel-fd");
    else if (strcmp(argv[i], "--helper") == 0) helper = argv[i + 1];
    else fail("spawner: unknown option %s", argv[i]);
  }
  if (argc % 2 != 0 || fd < 3 || helper == NULL || helper[0] != '/') fail("usage: cylo-helper spawner --channel-fd N(>=3) --helper /ABSOLUTE/PATH");
  channel = fd;
  struct stat mine, theirs;
  helper_in_process = stat("/proc/self/exe", &mine) == 0 && stat(helper, &theirs) == 0 && mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino;
  /* Close-on-exec and blocking: no child may inherit the channel (it could start outer helpers
   * as root with arguments of its choosing), and writes to it wait rather than fail. */
  int flags = fcntl(channel, F_GETFL);
  if (flags < 0 || fcntl(channel, F_SETFL, flags & ~O_NONBLOCK) != 0 || fcntl(channel, F_SETFD, FD_CLOEXEC) != 0)
    fail("spawner: the channel fd %d is not usable: %s", channel, strerror(errno));
  /* SIGCHLD through a signalfd (blocked, so never lost between polls); SIGPIPE ignored (a closed
   * channel is seen as EPIPE/EOF). Children get both back to default (spawner-child.c). */
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &chld, NULL) != 0) fail("spawner: sigprocmask: %s", strerror(errno));
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) fail("spawner: signalfd: %s", strerror(errno));
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) fail("spawner: SIGPIPE: %s", strerror(errno));
  /* Terminal signals ignored (review finding S3): the spawner shares the CLI's process group, so
   * a Ctrl-C, Ctrl-backslash, Ctrl-Z or a hang-up on the terminal would reach it too and end it (and
   * with it, by bubblewrap's --die-with-parent, every sandbox) before the CLI's own cleanup ran.
   * It ends when its channel closes (the service ended) or by SIGTERM/SIGKILL from the service.
   * Children get them back to default (spawner-child.c). */
  static const int terminal[] = {SIGINT, SIGQUIT, SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU};
  for (size_t k = 0; k < sizeof terminal / sizeof terminal[0]; k++)
    if (signal(terminal[k], SIG_IGN) == SIG_ERR) fail("spawner: ignore signal %d: %s", terminal[k], strerror(errno));
  /* Child subreaper: a sandbox process whose parent dies first (bubblewrap killed before its
   * PID 1: the kill fallbacks, a cgroup sweep killing both at once) is re-parented here, not to
   * the host's init, and reaped at once by reap(). Under an init that reaps late or never (this
   * kind of host: 1-2 s), such a zombie runs as a sandbox uid outside every cgroup (cylo doctor
   * reports it as an orphan) and its pid holds the uid's RLIMIT_NPROC count. Not inherited by
   * the children (fork clears it). reap() reports exits of its own children only. */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) fail("spawner: PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
  char *buf = malloc(MAX_LINE + 1);
  if (buf == NULL) fail("spawner: out of memory");
  size_t used = 0;
  int skipping = 0;
  for (;;) {
    struct pollfd p[2] = {{.fd = channel, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fail("spawner: poll: %s", strerror(errno));
    }
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo info;
      while (read(sfd, &info, sizeof info) == (ssize_t)sizeof info) {}
      reap();
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) read_channel(buf, &used, &skipping);
  }
}
