/* vde: a VLAN port plugged into a VDE network through libvdeplug (vde_switch, vxvde, ...). */
#ifndef LEMU_VDE_H
#define LEMU_VDE_H

#include <stddef.h>

#include "fdport.h"

typedef struct net_vde net_vde;

/* url: a vdeplug URL or a vde_switch control directory; port 0 = any; group/mode: ownership of
 * the switch port (NULL/0: unchanged). */
net_vde *net_vde_open(lemu_rt *rt, net_hub *hub, const char *url, int port, const char *group, unsigned mode,
                      char *err, size_t errlen);
void net_vde_close(net_vde *v);
const net_fdport *net_vde_fdport(const net_vde *v);
const char *net_vde_url(const net_vde *v);

#endif
