/* user: the user-mode network backend — a libslirp instance on its own port of a VLAN. Its sockets
 * and timers run on the runtime's libuv loop through slirp's callback API (one uv_poll per fd kept
 * in step with each slirp_pollfds_fill, one uv_timer from the fill timeout); its clock is the
 * runtime's. A frame filter sees guest frames before slirp does (the local DNS table uses it). */
#ifndef LEMU_USER_H
#define LEMU_USER_H

#include <netinet/in.h>
#include <slirp/libslirp.h>

#include "lemu.h"
#include "port.h"

typedef struct net_user net_user;

/* What slirp_new needs; addresses are already validated by the caller. Strings are copied. */
typedef struct net_user_cfg {
  int restricted, ipv4, ipv6;
  struct in_addr net, mask, host, dhcpstart, dns;
  struct in6_addr prefix6, host6, dns6;
  int prefix6_len;
  const char *hostname, *domainname, *tftp_path, *bootfile, *tftp_server_name;
  const char **dnssearch;        /* NULL-terminated, or NULL */
  int disable_dns;               /* slirp forwards no DNS (the local table answers instead) */
  const char *name;              /* port name */
} net_user_cfg;

/* A guest frame, before slirp sees it. Return 1 if the filter consumed it. */
typedef int (*net_user_filter)(net_user *u, const uint8_t *frame, size_t len, void *ud);
/* A frame slirp sends to the guests (seen after it entered the VLAN). */
typedef void (*net_user_watch)(net_user *u, const uint8_t *frame, size_t len, void *ud);
/* The object was closed (by net_user_close or by freeing the runtime). */
typedef void (*net_user_closed)(net_user *u, void *ud);

net_user *net_user_new(lemu_rt *rt, net_hub *hub, const net_user_cfg *cfg, char *err, int errlen);
void net_user_close(net_user *u);
void net_user_set_hooks(net_user *u, net_user_filter filter, net_user_watch watch,
                        net_user_closed closed, void *ud);
net_port *net_user_port(net_user *u);
lemu_rt *net_user_rt(net_user *u);

/* Frames the backend itself answers (local DNS) enter the VLAN from its port. */
int net_user_send(net_user *u, const void *frame, size_t len);

/* Forwarding, like slirp's calls, but with errno-style results (0 or -errno) and slirp kept in
 * step with the loop afterwards. */
int net_user_hostfwd_add(net_user *u, int udp, struct in_addr haddr, int hport,
                         struct in_addr gaddr, int gport);
int net_user_hostfwd_remove(net_user *u, int udp, struct in_addr haddr, int hport);
/* flags of net_user_hostxfwd_add/remove: a UDP forward; an IPv6 host socket that takes no IPv4 */
#define NET_USER_FWD_UDP 1
#define NET_USER_FWD_V6ONLY 2
/* A host socket of any family (a Unix-domain path, IPv6) to a guest address: slirp_add_hostxfwd. */
int net_user_hostxfwd_add(net_user *u, const struct sockaddr *haddr, int hlen,
                          const struct sockaddr *gaddr, int glen, int flags);
int net_user_hostxfwd_remove(net_user *u, const struct sockaddr *haddr, int hlen, int flags);
int net_user_add_exec(net_user *u, const char *cmd, struct in_addr gaddr, int gport);
int net_user_add_unix(net_user *u, const char *path, struct in_addr gaddr, int gport);
int net_user_remove_guestfwd(net_user *u, struct in_addr gaddr, int gport);

/* slirp_connection_info's text (caller frees with free()). */
char *net_user_connection_info(net_user *u);

/* Loop integration counters: poll handles open now, cycles run, timer wake-ups. */
typedef struct net_user_stats {
  int polls;
  uint64_t cycles, timer_wakeups, guest_errors, to_guest_drops;
  uint64_t foreign_frames;       /* unicast frames for other MACs on the VLAN, not given to slirp */
  uint64_t refused_no_fds;       /* host-forward connections refused: no descriptor left */
} net_user_stats;
net_user_stats net_user_get_stats(const net_user *u);

#endif
