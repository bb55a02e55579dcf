/*
 * netfilter.h: the output filter of an environment build's network namespace (net mode).
 */
#ifndef CYLO_NETFILTER_H
#define CYLO_NETFILTER_H

/* Loads, in a child that joins the network namespace NETFD, a netfilter output chain that drops
 * every packet the build sends but DNS to slirp's forwarder (UDP 10.0.2.3:53), TCP to PORTS
 * (NPORTS of them) outside the blackholed ranges and the host's own addresses, and loopback.
 * NFT is nft's absolute path. Call after blackhole_routes() (it reads the host's addresses).
 * Fails (fail) unless the ruleset was loaded. */
void output_filter(int netfd, const char *nft, const int *ports, int nports);

#endif
