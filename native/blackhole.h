/*
 * blackhole.h: blackhole routes in an environment build's network namespace (net mode).
 */
#ifndef CYLO_BLACKHOLE_H
#define CYLO_BLACKHOLE_H

/* Reads the host's own IPv4 addresses (the caller must still be in the host's network
 * namespace), then, in a child that joins the network namespace NETFD (the parent stays where
 * it is), adds a blackhole route for each address range the build must never reach (link-local
 * and cloud metadata, private and shared ranges, multicast and broadcast, the host's own
 * addresses and subnet broadcasts) and the policy rules that leave slirp's own 10.0.2.0/24
 * only UDP port 53 of its DNS forwarder; fails (fail) unless every one was added. */
void blackhole_routes(int netfd);

#endif
