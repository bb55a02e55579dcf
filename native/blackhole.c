/*
 * blackhole.c: the address ranges an environment build with network must never reach, made
 * unroutable INSIDE its network namespace (slirp4netns has no option for it: it connects to
 * whatever the sandbox asks, from the host's network namespace). A blackhole route drops the
 * packet in the sandbox's own kernel: connect() fails at once (EINVAL/ENETUNREACH), nothing
 * leaves. slirp4netns's own 10.0.2.0/24 (gateway 10.0.2.2, DNS 10.0.2.3) keeps its interface
 * route (more specific than 10.0.0.0/8), but policy rules (below the routes) leave it only UDP
 * port 53 of 10.0.2.3: slirp forwards ANY port of 10.0.2.3 to the host's nameserver, which is
 * often 127.0.0.53 (the host's loopback), the office router (its admin page on port 80) or, on
 * GCP, the metadata server 169.254.169.254 itself; a rule after it blackholes the rest of
 * 10.0.2.0/24 (10.0.2.2 is the host's loopback unless slirp refuses it: a second wall).
 */
#include "blackhole.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

static const struct unreachable_range RANGES[] = {
    {"169.254.0.0", 16, "link-local: cloud metadata services (169.254.169.254) hand out credentials"},
    {"10.0.0.0", 8, "private networks: the host's LAN address and its services bound to 0.0.0.0"},
    {"172.16.0.0", 12, "private networks (and container bridges such as docker0)"},
    {"192.168.0.0", 16, "private networks (home and office LANs, routers' admin pages)"},
    {"100.64.0.0", 10, "shared address space (carrier NAT, tailnets)"},
    {"0.0.0.0", 8, "\"this network\": 0.0.0.0 reaches the host's own services on some stacks"},
    /* Review finding N4: platform endpoints and special ranges outside the private ones. */
    {"168.63.129.16", 32, "Azure's WireServer: a public-looking address only the VM reaches (HTTP on 80: goal state, extension settings)"},
    {"192.0.0.0", 24, "IETF protocol assignments (Oracle Cloud's metadata 192.0.0.192, DS-Lite)"},
    {"198.18.0.0", 15, "benchmarking range, used inside some networks and appliances"},
    /* F5: a datagram to a group or a broadcast address, forwarded by slirp from the host's
     * stack, reaches every machine on the host's LAN at once: SSDP (239.255.255.250, UPnP
     * routers that open ports on request), mDNS (224.0.0.251), LLMNR, NetBIOS broadcasts. */
    {"224.0.0.0", 4, "multicast: SSDP/UPnP (a router opening ports), mDNS, LLMNR on the host's LAN"},
    {"240.0.0.0", 4, "reserved, and the limited broadcast 255.255.255.255 (every machine on the host's LAN)"},
    {"255.255.255.255", 32, "the limited broadcast (DHCP, NetBIOS, discovery protocols on the host's LAN)"},
};

/* F4: the host's own addresses (each interface's address and its subnet's broadcast address)
 * that the ranges above do not cover: a public address on eth0 reaches, through slirp (which
 * connects from the host's stack), every service the host binds to 0.0.0.0:80/443 (a
 * dashboard, cylo serve behind a proxy, another tenant's web server). Read in the host's
 * network namespace when the stack is set up (host_addresses below): an address the host gains
 * later is not blackholed for a build already running (docs/security.md says so). */
#define MAX_HOST_ADDRESSES 256
static struct in_addr host_addrs[MAX_HOST_ADDRESSES];
static size_t n_host_addrs;

/* Appends attribute TYPE (LEN bytes of DATA) to the request NH of ROOM bytes. */
static void put_attr(struct nlmsghdr *nh, size_t room, unsigned short type, const void *data, size_t len) {
  size_t at = NLMSG_ALIGN(nh->nlmsg_len);
  if (at + RTA_SPACE(len) > room) fail("net: netlink request too long");
  struct rtattr *rta = (struct rtattr *)((char *)nh + at);
  rta->rta_type = type;
  rta->rta_len = (unsigned short)RTA_LENGTH(len);
  memcpy(RTA_DATA(rta), data, len);
  nh->nlmsg_len = (uint32_t)(at + RTA_SPACE(len));
}

/* Sends the request NH over the netlink socket FD and reads its acknowledgement; returns 0 or
 * an errno. */
static int request(int fd, const struct nlmsghdr *nh) {
  if (send(fd, nh, nh->nlmsg_len, 0) < 0) return errno;
  char buf[512];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) return n < 0 ? errno : EPROTO;
  struct nlmsghdr *ack = (struct nlmsghdr *)buf;
  if (ack->nlmsg_type != NLMSG_ERROR) return EPROTO;
  int err = ((struct nlmsgerr *)NLMSG_DATA(ack))->error;
  return err == 0 ? 0 : -err;
}

/* Adds one blackhole route to DST/LEN over the netlink socket FD; returns 0 or an errno. */
static int add_blackhole(int fd, struct in_addr dst, int len, unsigned seq) {
  struct {
    struct nlmsghdr nh;
    struct rtmsg rt;
    char attrs[64];
  } req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_type = RTM_NEWROUTE;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
  req.nh.nlmsg_seq = seq;
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.rt);
  req.rt.rtm_family = AF_INET;
  req.rt.rtm_dst_len = (unsigned char)len;
  req.rt.rtm_table = RT_TABLE_MAIN;
  req.rt.rtm_protocol = RTPROT_STATIC;
  req.rt.rtm_scope = RT_SCOPE_NOWHERE;
  req.rt.rtm_type = RTN_BLACKHOLE;
  put_attr(&req.nh, sizeof req, RTA_DST, &dst, sizeof dst);
  return request(fd, &req.nh);
}

/* Adds one policy rule for protocol PROTO to destination NET/LEN at PRIORITY: with PORT > 0,
 * that port goes on to the main table (the one way through); with 0, the protocol is blackholed
 * (the kernel refuses at once: EINVAL). Returns 0 or an errno. */
static int add_rule(int fd, const char *net, int len, uint32_t priority, uint8_t proto, uint16_t port, unsigned seq) {
  struct {
    struct nlmsghdr nh;
    struct fib_rule_hdr fr;
    char attrs[96];
  } req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_type = RTM_NEWRULE;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
  req.nh.nlmsg_seq = seq;
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.fr);
  req.fr.family = AF_INET;
  req.fr.dst_len = (unsigned char)len;
  req.fr.table = port > 0 ? RT_TABLE_MAIN : RT_TABLE_UNSPEC;
  req.fr.action = port > 0 ? FR_ACT_TO_TBL : FR_ACT_BLACKHOLE;
  struct in_addr dst;
  if (inet_pton(AF_INET, net, &dst) != 1) return EINVAL;
  put_attr(&req.nh, sizeof req, FRA_DST, &dst, sizeof dst);
  put_attr(&req.nh, sizeof req, FRA_PRIORITY, &priority, sizeof priority);
  put_attr(&req.nh, sizeof req, FRA_IP_PROTO, &proto, sizeof proto);
  if (port > 0) {
    struct fib_rule_port_range ports = {.start = port, .end = port};
    put_attr(&req.nh, sizeof req, FRA_DPORT_RANGE, &ports, sizeof ports);
  }
  return request(fd, &req.nh);
}

/* The policy rules of slirp's own network (priorities after the kernel's "local" rule at 0, so
 * the sandbox's own address stays local; before "main" at 32766). Each names its protocol: a
 * rule without one would also catch the kernel's own check of the default route's gateway
 * (10.0.2.2, a lookup of no protocol), and slirp could not configure the interface. */
static const struct {
  const char *net;
  int len;
  uint32_t priority;
  uint8_t proto;
  uint16_t port;
  const char *why;
} RULES[] = {
    {"10.0.2.3", 32, 100, IPPROTO_UDP, 53, "DNS: UDP port 53 of slirp's forwarder, the only way into 10.0.2.0/24"},
    {"10.0.2.0", 24, 101, IPPROTO_UDP, 0, "slirp's aliases: 10.0.2.3 forwards every other port to the host's nameserver "
                                          "(loopback, a router, a metadata server), 10.0.2.2 is the host's loopback"},
    {"10.0.2.0", 24, 102, IPPROTO_TCP, 0, "the same aliases over TCP (Landlock leaves ports 80 and 443 open)"},
    {"10.0.2.0", 24, 103, IPPROTO_ICMP, 0, "the same aliases for ping sockets"},
};

/* The child: joins the namespace, adds every route; exits 0 or fails naming the range. */
static void add_all(int netfd) {
  if (setns(netfd, CLONE_NEWNET) < 0) fail("net: join the sandbox's network namespace: %s", strerror(errno));
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) fail("net: netlink socket: %s", strerror(errno));
  unsigned seq = 1;
  for (size_t k = 0; k < sizeof RANGES / sizeof RANGES[0]; k++) {
    struct in_addr dst;
    int err = inet_pton(AF_INET, RANGES[k].net, &dst) == 1 ? add_blackhole(fd, dst, RANGES[k].len, seq++) : EINVAL;
    if (err != 0) fail("net: blackhole route %s/%d (%s): %s", RANGES[k].net, RANGES[k].len, RANGES[k].why, strerror(err));
  }
  for (size_t k = 0; k < n_host_addrs; k++) {
    int err = add_blackhole(fd, host_addrs[k], 32, seq++);
    char text[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &host_addrs[k], text, sizeof text);
    if (err != 0) fail("net: blackhole route %s/32 (the host's own address): %s", text, strerror(err));
  }
  for (size_t k = 0; k < sizeof RULES / sizeof RULES[0]; k++) {
    int err = add_rule(fd, RULES[k].net, RULES[k].len, RULES[k].priority, RULES[k].proto, RULES[k].port, seq++);
    if (err != 0) fail("net: policy rule %s/%d (%s): %s", RULES[k].net, RULES[k].len, RULES[k].why, strerror(err));
  }
  _exit(0);
}

/* Whether ADDR (network order) lies in one of RANGES or in 127.0.0.0/8 (the sandbox's own
 * loopback: never routed to slirp), so that it needs no route of its own. */
static int covered(struct in_addr addr) {
  uint32_t a = ntohl(addr.s_addr);
  if ((a >> 24) == 127) return 1;
  for (size_t k = 0; k < sizeof RANGES / sizeof RANGES[0]; k++) {
    struct in_addr net;
    if (inet_pton(AF_INET, RANGES[k].net, &net) != 1) continue;
    uint32_t mask = RANGES[k].len == 0 ? 0 : 0xffffffffU << (32 - RANGES[k].len);
    if ((a & mask) == ntohl(net.s_addr)) return 1;
  }
  return 0;
}

/* Remembers ADDR in host_addrs unless covered or already there; fails when there are more than
 * MAX_HOST_ADDRESSES (never a build with one of the host's addresses left reachable). */
static void remember(const struct sockaddr *sa) {
  if (sa == NULL || sa->sa_family != AF_INET) return;
  struct in_addr addr = ((const struct sockaddr_in *)sa)->sin_addr;
  if (covered(addr)) return;
  for (size_t k = 0; k < n_host_addrs; k++)
    if (host_addrs[k].s_addr == addr.s_addr) return;
  if (n_host_addrs >= MAX_HOST_ADDRESSES) fail("net: the host has more than %d IPv4 addresses; the build gets no network", MAX_HOST_ADDRESSES);
  host_addrs[n_host_addrs++] = addr;
}

/* Reads the host's IPv4 addresses (this process is still in the host's network namespace):
 * each interface's own and, on a broadcast link, its subnet's broadcast address. IPv6 ones are
 * not needed: the stack runs without --enable-ipv6, so the build has no IPv6 route at all. */
static void host_addresses(void) {
  struct ifaddrs *list = NULL;
  if (getifaddrs(&list) < 0) fail("net: getifaddrs (the host's own addresses, to blackhole): %s", strerror(errno));
  for (struct ifaddrs *i = list; i != NULL; i = i->ifa_next) {
    remember(i->ifa_addr);
    if ((i->ifa_flags & IFF_BROADCAST) != 0) remember(i->ifa_broadaddr);
  }
  freeifaddrs(list);
}

const struct unreachable_range *unreachable_ranges(size_t *count) {
  *count = sizeof RANGES / sizeof RANGES[0];
  return RANGES;
}

const struct in_addr *unreachable_host_addresses(size_t *count) {
  *count = n_host_addrs;
  return host_addrs;
}

void blackhole_routes(int netfd) {
  host_addresses();
  pid_t child = fork();
  if (child < 0) fail("net: fork: %s", strerror(errno));
  if (child == 0) add_all(netfd);
  int status = 0;
  if (waitpid(child, &status, 0) != child) fail("net: waitpid: %s", strerror(errno));
  /* The child reported its own failure on the status fd / stderr; refuse to go on without it. */
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("net: the blackhole routes could not be added; the build gets no network");
}
