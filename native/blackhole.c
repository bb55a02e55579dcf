/*
 * blackhole.c: the address ranges an environment build with network must never reach, made
 * unroutable INSIDE its network namespace (slirp4netns has no option for it: it connects to
 * whatever the sandbox asks, from the host's network namespace). A blackhole route drops the
 * packet in the sandbox's own kernel: connect() fails at once (EINVAL/ENETUNREACH), nothing
 * leaves. slirp4netns's own 10.0.2.0/24 (gateway 10.0.2.2, DNS 10.0.2.3) stays reachable: its
 * interface route is more specific than 10.0.0.0/8.
 */
#include "blackhole.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

static const struct {
  const char *net;
  int len;
  const char *why;
} RANGES[] = {
    {"169.254.0.0", 16, "link-local: cloud metadata services (169.254.169.254) hand out credentials"},
    {"10.0.0.0", 8, "private networks: the host's LAN address and its services bound to 0.0.0.0"},
    {"172.16.0.0", 12, "private networks (and container bridges such as docker0)"},
    {"192.168.0.0", 16, "private networks (home and office LANs, routers' admin pages)"},
    {"100.64.0.0", 10, "shared address space (carrier NAT, tailnets)"},
    {"0.0.0.0", 8, "\"this network\": 0.0.0.0 reaches the host's own services on some stacks"},
};

/* Adds one blackhole route over the netlink socket FD; returns 0 or an errno. */
static int add_blackhole(int fd, const char *net, int len, unsigned seq) {
  struct {
    struct nlmsghdr nh;
    struct rtmsg rt;
    char attrs[64];
  } req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_type = RTM_NEWROUTE;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
  req.nh.nlmsg_seq = seq;
  req.rt.rtm_family = AF_INET;
  req.rt.rtm_dst_len = (unsigned char)len;
  req.rt.rtm_table = RT_TABLE_MAIN;
  req.rt.rtm_protocol = RTPROT_STATIC;
  req.rt.rtm_scope = RT_SCOPE_NOWHERE;
  req.rt.rtm_type = RTN_BLACKHOLE;
  struct rtattr *rta = (struct rtattr *)req.attrs;
  rta->rta_type = RTA_DST;
  rta->rta_len = RTA_LENGTH(4);
  if (inet_pton(AF_INET, net, RTA_DATA(rta)) != 1) return EINVAL;
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.rt) + RTA_ALIGN(rta->rta_len);
  if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) return errno;
  char buf[512];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) return n < 0 ? errno : EPROTO;
  struct nlmsghdr *ack = (struct nlmsghdr *)buf;
  if (ack->nlmsg_type != NLMSG_ERROR) return EPROTO;
  int err = ((struct nlmsgerr *)NLMSG_DATA(ack))->error;
  return err == 0 ? 0 : -err;
}

/* The child: joins the namespace, adds every route; exits 0 or fails naming the range. */
static void add_all(int netfd) {
  if (setns(netfd, CLONE_NEWNET) < 0) fail("net: join the sandbox's network namespace: %s", strerror(errno));
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) fail("net: netlink socket: %s", strerror(errno));
  for (size_t k = 0; k < sizeof RANGES / sizeof RANGES[0]; k++) {
    int err = add_blackhole(fd, RANGES[k].net, RANGES[k].len, (unsigned)k + 1);
    if (err != 0) fail("net: blackhole route %s/%d (%s): %s", RANGES[k].net, RANGES[k].len, RANGES[k].why, strerror(err));
  }
  _exit(0);
}

void blackhole_routes(int netfd) {
  pid_t child = fork();
  if (child < 0) fail("net: fork: %s", strerror(errno));
  if (child == 0) add_all(netfd);
  int status = 0;
  if (waitpid(child, &status, 0) != child) fail("net: waitpid: %s", strerror(errno));
  /* The child reported its own failure on the status fd / stderr; refuse to go on without it. */
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("net: the blackhole routes could not be added; the build gets no network");
}
