/* tap: a host TAP interface (/dev/net/tun, IFF_TAP|IFF_NO_PI) as a port on a VLAN, with QEMU's
 * ifup/ifdown scripts or lemu's own configuration of the link and an address over netlink. */
#ifndef LEMU_TAP_H
#define LEMU_TAP_H

#include <stddef.h>

#include "fdport.h"

typedef struct net_tap_dev net_tap_dev;

typedef struct net_tap_config {
  const char *ifname;      /* NULL or "": the kernel picks tapN; a persistent TAP is opened by name */
  const char *script;      /* run with the interface name after opening (NULL or "no": none) */
  const char *downscript;  /* run with the interface name when closing */
  int vnet_hdr;            /* frames carry a virtio-net header on the descriptor (stripped here) */
  const char *up_addr;     /* "192.168.76.1/24": bring the link up and add this address */
} net_tap_config;

net_tap_dev *net_tap_open(lemu_rt *rt, net_hub *hub, const net_tap_config *cfg, char *err, size_t errlen);
void net_tap_close(net_tap_dev *t);
const char *net_tap_ifname(const net_tap_dev *t);
const net_fdport *net_tap_fdport(const net_tap_dev *t);

#endif
