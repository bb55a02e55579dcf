/*
 * netfilter.c: the output filter of an environment build's network namespace (net mode), the
 * wall behind the blackhole routes (blackhole.c). Routes are not enough: the kernel skips them
 * for a datagram whose socket names its outgoing interface. IP_UNICAST_IF or an IP_PKTINFO
 * control message (both unprivileged) turn a failed lookup (the blackhole) into "assume on
 * link" and send the datagram out of tap0 anyway; IP_MULTICAST_IF does the same for multicast.
 * slirp then forwards UDP to ANY port of 10.0.2.3 to the host's nameserver (its loopback, a
 * router, a metadata server) and multicast onward. seccomp cannot stop it (the control message
 * and the option's value are behind pointers it cannot read). Netfilter's output hook sees
 * every locally generated packet after the route is chosen, whatever chose it: a drop there
 * fails the send (EPERM) and nothing leaves the namespace.
 *
 * The ruleset is loaded by Debian's nft (nftables), exec()ed as root in a child that joined the
 * namespace (argv array, the ruleset on a pipe, an empty environment): the nf_tables netlink
 * protocol (batches of expressions) is what libnftables does, and a static helper cannot link
 * it; nft is the maintained way. Its path comes from cylo (--nft, checked in
 * src/sandbox/build-network.ts to lie under /usr), never from the sandbox. The sandbox cannot
 * undo the rules: it has no capability in its user namespace (bubblewrap drops them all), so
 * NFT_MSG_DELTABLE and friends are refused to it, as are route changes.
 */
#include "netfilter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blackhole.h"
#include "util.h"

/* Appends printf-style text to BUF (of ROOM bytes, used *AT); fails when it does not fit (never
 * a ruleset cut short). */
static void append(char *buf, size_t room, size_t *at, const char *format, ...) __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t room, size_t *at, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  int n = vsnprintf(buf + *at, room - *at, format, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= room - *at) fail("net: the build's netfilter ruleset is too long");
  *at += (size_t)n;
}

/* The ruleset: policy drop for everything the build sends, then the three ways out. */
static size_t ruleset(char *buf, size_t room, const int *ports, int nports) {
  size_t at = 0;
  append(buf, room, &at, "table inet cylo_build {\n chain output {\n");
  /* Every packet the build sends, IPv4 and IPv6 (inet), after routing: nothing not accepted
   * below leaves, whatever interface a socket option or control message chose. IPv6 has no
   * accept rule at all (the stack runs without --enable-ipv6). */
  append(buf, room, &at, "  type filter hook output priority filter; policy drop;\n");
  /* The sandbox's own loopback never reaches slirp: a build's local servers (test fixtures). */
  append(buf, room, &at, "  oifname \"lo\" accept\n");
  /* DNS: UDP port 53 of slirp's forwarder, the only UDP there is (any other port of 10.0.2.3 is
   * forwarded by slirp to the host's nameserver at that port). slirp passes the payload as it
   * is, from the host's own address (review finding N1: an UPDATE, NOTIFY or raw bytes reach a
   * resolver that trusts localhost, e.g. BIND's allow-update { localhost; }, or its parser):
   * only a standard query passes, QR=0 and opcode QUERY (flag bits 80-84), one question, no
   * answer or authority records (an EDNS OPT record, ARCOUNT, may follow). A datagram too short
   * for those fields matches nothing and meets the policy. At most 100 a second (burst 200):
   * each one is a socket of the stack on the host. */
  append(buf, room, &at, "  ip daddr 10.0.2.3 udp dport 53 limit rate over 100/second burst 200 packets drop\n");
  append(buf, room, &at, "  ip daddr 10.0.2.3 udp dport 53 @th,80,5 0 @th,96,16 1 @th,112,32 0 accept\n");
  /* The ranges the routes blackhole (blackhole.c says why each), and 127.0.0.0/8 sent out of
   * tap0: dropped here too, for the packets that got past the routes. */
  append(buf, room, &at, "  ip daddr { 127.0.0.0/8");
  size_t nranges = 0;
  const struct unreachable_range *ranges = unreachable_ranges(&nranges);
  for (size_t k = 0; k < nranges; k++) append(buf, room, &at, ", %s/%d", ranges[k].net, ranges[k].len);
  append(buf, room, &at, " } drop\n");
  /* The host's own addresses and subnet broadcasts (F4): slirp would reach them from the host. */
  size_t nhosts = 0;
  const struct in_addr *hosts = unreachable_host_addresses(&nhosts);
  if (nhosts > 0) {
    append(buf, room, &at, "  ip daddr { ");
    for (size_t k = 0; k < nhosts; k++) {
      char text[INET_ADDRSTRLEN];
      if (inet_ntop(AF_INET, &hosts[k], text, sizeof text) == NULL) fail("net: inet_ntop: %s", strerror(errno));
      append(buf, room, &at, "%s%s", k == 0 ? "" : ", ", text);
    }
    append(buf, room, &at, " } drop\n");
  }
  /* New connections at most 50 a second (burst 200; review finding N3): each one is a socket
   * of the stack and a conntrack entry on the host (120 s in SYN_SENT, charged to no cgroup), and
   * the host drops every tenant's new flows once its conntrack table is full. */
  append(buf, room, &at, "  tcp flags & (syn | ack) == syn limit rate over 50/second burst 200 packets drop\n");
  /* TCP to the index's ports, the same as Landlock's connect rules (--tcp-port, from cylo),
   * which this holds on its own (Landlock does not see TCP Fast Open's implicit connect, which
   * seccomp refuses): no other protocol, no other port (ICMP, UDP elsewhere, QUIC). */
  append(buf, room, &at, "  ip protocol tcp tcp dport { ");
  for (int k = 0; k < nports; k++) append(buf, room, &at, "%s%d", k == 0 ? "" : ", ", ports[k]);
  append(buf, room, &at, " } accept\n }\n}\n");
  return at;
}

void output_filter(int netfd, const char *nft, const int *ports, int nports) {
  if (nports <= 0) fail("net: --tcp-port is required (the ports the build may connect to)");
  static char text[16384];
  size_t len = ruleset(text, sizeof text, ports, nports);
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) fail("net: pipe: %s", strerror(errno));
  pid_t child = fork();
  if (child < 0) fail("net: fork: %s", strerror(errno));
  if (child == 0) {
    if (setns(netfd, CLONE_NEWNET) < 0) fail("net: join the sandbox's network namespace: %s", strerror(errno));
    if (dup2(pipefd[0], 0) < 0) fail("net: dup2: %s", strerror(errno));
    /* nft gets the ruleset (0) and cylo's stdout/stderr (1, 2: its errors reach the build's
     * report) only: not the ready pipe (3: a stray write would start the build early), nor the
     * namespace fds. */
    if (syscall(SYS_close_range, 3U, ~0U, 0) < 0) fail("net: close_range: %s", strerror(errno));
    char *const argv[] = {(char *)"nft", (char *)"-f", (char *)"-", NULL};
    char *const envp[] = {NULL};
    execve(nft, argv, envp);
    fail("net: cannot execute %s (nftables): %s", nft, strerror(errno));
  }
  close(pipefd[0]);
  /* A dead reader must fail the write, not kill the helper. */
  signal(SIGPIPE, SIG_IGN);
  for (size_t done = 0; done < len;) {
    ssize_t n = write(pipefd[1], text + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    done += (size_t)n;
  }
  close(pipefd[1]);
  signal(SIGPIPE, SIG_DFL);
  int status = 0;
  if (waitpid(child, &status, 0) != child) fail("net: waitpid: %s", strerror(errno));
  /* nft reported its own error on stderr; never a build with network but without the filter. */
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("net: the build's output filter (nftables, %s) could not be loaded; the build gets no network", nft);
}
