/*
 * landlock.c: Landlock, applied by the program's child between fork and exec. Negotiates the
 * ABI the running kernel offers, handles every right that ABI knows (anything not granted by a
 * rule is denied), adds one rule per allowed tree, and scopes signals and abstract unix sockets
 * to the sandbox when the kernel can (ABI 6).
 */
#include "landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* Rights that Landlock accepts on a rule whose target is a file rather than a directory. */
#define LL_FILE_RIGHTS (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

long landlock_abi(void) {
  return syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
}

static void add_rule(int ruleset, const struct landlock_rule *r, uint64_t handled) {
  int fd = open(r->path, O_PATH | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return; /* optional tree not present in this sandbox: nothing to allow */
    fail("landlock: open %s: %s", r->path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) < 0) fail("landlock: stat %s: %s", r->path, strerror(errno));
  struct ll_path_beneath_attr attr = {.allowed_access = r->access & handled, .parent_fd = fd};
  if (!S_ISDIR(st.st_mode)) attr.allowed_access &= LL_FILE_RIGHTS;
  if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &attr, 0) < 0)
    fail("landlock: add rule for %s: %s", r->path, strerror(errno));
  close(fd);
}

/* Every filesystem right ABI knows: a ruleset may only handle those, and handling them all means
 * anything not granted below is denied. */
static uint64_t handled_fs_rights(long abi) {
  uint64_t fs = LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_READ_DIR | LL_FS_REMOVE_DIR |
                LL_FS_REMOVE_FILE | LL_FS_MAKE_CHAR | LL_FS_MAKE_DIR | LL_FS_MAKE_REG | LL_FS_MAKE_SOCK |
                LL_FS_MAKE_FIFO | LL_FS_MAKE_BLOCK | LL_FS_MAKE_SYM;
  if (abi >= 2) fs |= LL_FS_REFER;     /* stops renaming/linking files across the allowed trees */
  if (abi >= 3) fs |= LL_FS_TRUNCATE;  /* stops truncating files outside the workspace */
  if (abi >= 5) fs |= LL_FS_IOCTL_DEV; /* stops device ioctls except on allowed device files */
  return fs;
}

void apply_landlock(const struct landlock_policy *policy) {
  long abi = landlock_abi();
  if (abi < 1)
    fail("landlock: not available on this kernel (%s); boot with lsm=...,landlock or relax the "
         "\"landlock\" layer in the configuration", strerror(errno));
  uint64_t fs = handled_fs_rights(abi);
  struct ll_ruleset_attr attr = {.handled_access_fs = fs};
  size_t size = sizeof(uint64_t);
  if (abi >= 4) {
    /* Every TCP bind and connect is denied but connects to the --connect-tcp ports (none unless
     * an environment build has network): a program cannot listen, nor reach any other port. */
    attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
    size = 2 * sizeof(uint64_t);
  }
  if (abi >= 6 && policy->scope) {
    /* Stops signalling processes outside the sandbox and reaching host abstract unix sockets. */
    attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
    size = 3 * sizeof(uint64_t);
  }
  int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
  if (ruleset < 0) fail("landlock: create ruleset (ABI %ld): %s", abi, strerror(errno));
  for (int i = 0; i < policy->nrules; i++) add_rule(ruleset, &policy->rules[i], fs);
  /* Without ABI 4 nothing handles TCP: the network namespace alone would hold it; a build that
   * asked for port rules is refused rather than run with every port open. */
  if (policy->nports > 0 && abi < 4)
    fail("landlock: --connect-tcp needs ABI 4 (TCP rules); this kernel has ABI %ld", abi);
  for (int i = 0; i < policy->nports; i++) {
    struct ll_net_port_attr port = {.allowed_access = LL_NET_CONNECT_TCP, .port = policy->connect_ports[i]};
    if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &port, 0) < 0)
      fail("landlock: add TCP connect rule for port %u: %s", policy->connect_ports[i], strerror(errno));
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("no_new_privs: %s", strerror(errno));
  if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) fail("landlock: restrict_self: %s", strerror(errno));
  close(ruleset);
}

/* --landlock MODE and the rule options --ro/--rx/--dev/--rw PATH; returns 0 for other options. */
int landlock_parse_option(struct landlock_policy *p, const char *a, const char *v) {
  if (strcmp(a, "--landlock") == 0) {
    if (strcmp(v, "on") != 0 && strcmp(v, "noscope") != 0 && strcmp(v, "off") != 0)
      fail("--landlock wants on, noscope or off, got %s", v);
    p->enabled = strcmp(v, "off") != 0;
    p->scope = strcmp(v, "noscope") != 0;
    return 1;
  }
  uint64_t access = strcmp(a, "--ro") == 0 ? LL_ACCESS_RO : strcmp(a, "--rx") == 0 ? LL_ACCESS_RX
                  : strcmp(a, "--dev") == 0 ? LL_ACCESS_DEV : strcmp(a, "--rw") == 0 ? LL_ACCESS_RW : 0;
  if (strcmp(a, "--connect-tcp") == 0) {
    long long port = parse_num(v, a);
    if (port < 1 || port > 65535) fail("--connect-tcp wants a port from 1 to 65535, got %s", v);
    if (p->nports >= LANDLOCK_MAX_PORTS) fail("too many --connect-tcp");
    p->connect_ports[p->nports++] = (uint16_t)port;
    return 1;
  }
  if (access == 0) return 0;
  if (p->nrules >= LANDLOCK_MAX_RULES) fail("too many landlock rules");
  p->rules[p->nrules].path = v;
  p->rules[p->nrules].access = access;
  p->nrules++;
  return 1;
}
