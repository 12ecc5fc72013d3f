/* dnshosts: a local DNS table that answers a guest's queries inside lemu. Given a guest frame, it
 * recognises a UDP query to the DNS address (IPv4 or IPv6, port 53) and builds the whole reply
 * frame: the table's A/AAAA records, an empty answer for a known name without a record of the asked
 * type, NXDOMAIN for a name not in the table. Nothing is ever forwarded. */
#ifndef LEMU_DNSHOSTS_H
#define LEMU_DNSHOSTS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dns_hosts dns_hosts;

typedef struct dns_hosts_stats { uint64_t queries, answered, nxdomain, malformed; } dns_hosts_stats;

dns_hosts *dns_hosts_new(void);
void dns_hosts_free(dns_hosts *d);
/* Adds a record; name is case-insensitive, a trailing dot is ignored. family is AF_INET or
 * AF_INET6, addr a struct in_addr or in6_addr. Returns 0, or -1 for a name that is not a valid DNS
 * name (or no memory). */
int dns_hosts_add(dns_hosts *d, const char *name, int family, const void *addr);
/* The servers whose queries are answered (dns6 may be NULL). */
void dns_hosts_set_server(dns_hosts *d, struct in_addr dns4, const struct in6_addr *dns6);
/* If frame (len bytes) is a DNS query to the server, writes the reply frame into out (outcap
 * bytes) and returns its length; returns 0 if the frame is not for the table; -1 if it was a query
 * to the server that cannot be answered (it must be dropped, not forwarded). */
int dns_hosts_answer(dns_hosts *d, const uint8_t *frame, size_t len, uint8_t *out, size_t outcap);
dns_hosts_stats dns_hosts_get_stats(const dns_hosts *d);

#endif
