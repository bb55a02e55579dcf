/*
 * blackhole.h: blackhole routes in an environment build's network namespace (net mode).
 */
#ifndef CYLO_BLACKHOLE_H
#define CYLO_BLACKHOLE_H

#include <netinet/in.h>
#include <stddef.h>

/* An address range a build must never reach: NET/LEN, and WHY (the attack it stops). */
struct unreachable_range {
  const char *net;
  int len;
  const char *why;
};

/* Reads the host's own IPv4 addresses (the caller must still be in the host's network
 * namespace), then, in a child that joins the network namespace NETFD (the parent stays where
 * it is), adds a blackhole route for each address range the build must never reach (link-local
 * and cloud metadata, private and shared ranges, multicast and broadcast, the host's own
 * addresses and subnet broadcasts) and the policy rules that leave slirp's own 10.0.2.0/24
 * only UDP port 53 of its DNS forwarder; fails (fail) unless every one was added. */
void blackhole_routes(int netfd);

/* The fixed ranges blackhole_routes() blackholes (COUNT set to their number). */
const struct unreachable_range *unreachable_ranges(size_t *count);

/* The host's own addresses and subnet broadcasts outside those ranges, as read by
 * blackhole_routes() (none before it; COUNT set to their number). */
const struct in_addr *unreachable_host_addresses(size_t *count);

#endif
