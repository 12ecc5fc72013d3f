/* sock: VLANs joined across processes over sockets, on QEMU's wire formats — streams (TCP or unix,
 * listen or connect) carry each frame behind a 4-byte big-endian length; datagrams (UDP, unix, IPv4
 * multicast) carry one frame each; VXLAN (RFC 7348) datagrams carry one frame behind an 8-byte
 * header with the network identifier, as a Linux vxlan device sends and takes them. A listener
 * takes any number of peers, each its own port on the VLAN; a connector has one port whose link
 * follows the connection. */
#ifndef LEMU_SOCK_H
#define LEMU_SOCK_H

#include <stddef.h>
#include <stdint.h>

#include "port.h"

typedef struct net_sock net_sock;

enum net_sock_mode { NET_SOCK_LISTEN, NET_SOCK_CONNECT, NET_SOCK_UDP, NET_SOCK_MCAST, NET_SOCK_VXLAN };

/* Addresses are "host:port", "[v6addr]:port" or "unix:/path"; an empty host means 127.0.0.1. */
typedef struct net_sock_config {
  enum net_sock_mode mode;
  const char *addr;       /* listen/connect address, UDP remote, multicast group:port */
  const char *local;      /* UDP/unix datagrams: where to bind; multicast: the interface address */
  unsigned reconnect_ms;  /* connect: retry this long after a failure or a drop; 0: never */
  unsigned stall_ms;      /* drop a stream peer whose writes make no progress this long (0: 10 s) */
  unsigned wqueue;        /* bytes buffered toward a stream peer before its port queues (0: 256 KiB) */
  uint32_t vni;           /* VXLAN: the network identifier (24 bits) frames carry and must carry */
} net_sock_config;

/* Wire-side counters: frames/bytes that crossed the socket, and drops (toward the peer: refused by
 * the socket or no peer; from the peer: frames too short or too long for the VLAN). */
typedef struct net_sock_stats {
  net_counters to_peer, from_peer;
} net_sock_stats;

typedef struct net_sock_peerinfo {
  const net_port *port;   /* this peer's port on the VLAN */
  const char *addr;       /* the peer's address ("" if none yet) */
  int connected;
  const net_sock_stats *stats;
} net_sock_peerinfo;

/* Opens the socket and attaches its port(s) to hub. On failure returns NULL with a message in err
 * that names the address and the reason. */
net_sock *net_sock_open(lemu_rt *rt, net_hub *hub, const net_sock_config *cfg, char *err, size_t errlen);
void net_sock_close(net_sock *s);
/* Called (on the loop) when a peer connects or is dropped: event is "connected" or "dropped";
 * reason says why a peer was dropped. */
typedef void (*net_sock_event_fn)(net_sock *s, const char *event, const char *addr, const char *reason,
                                  void *ud);
void net_sock_on_event(net_sock *s, net_sock_event_fn fn, void *ud);

const char *net_sock_mode_name(const net_sock *s);
/* The local address (a listener's bound address with its real port, a datagram socket's). */
const char *net_sock_local(const net_sock *s);
/* Peers now attached (a listener's connected peers; 1 for the other modes). */
int net_sock_npeers(const net_sock *s);
int net_sock_peer(const net_sock *s, int i, net_sock_peerinfo *out);
/* The peer behind port p, if p is a socket backend's port: 0, or -1 if it is not. */
int net_sock_port_peer(const net_port *p, net_sock_peerinfo *out);
/* Peers accepted/connected and dropped since opening, and why the last one was dropped. */
unsigned net_sock_accepted(const net_sock *s);
unsigned net_sock_dropped(const net_sock *s);
const char *net_sock_last_drop(const net_sock *s);
/* Connect mode: drop the connection (if any) and connect again now. */
void net_sock_reconnect(net_sock *s);

/* Parses addr into *ss (see above for the forms). Returns 0 or -1 with err set. */
struct sockaddr_storage;
int net_sock_parse_addr(const char *addr, struct sockaddr_storage *ss, unsigned *sslen, char *err,
                        size_t errlen);

#endif
