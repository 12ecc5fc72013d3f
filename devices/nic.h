/* nic: the base every NIC model embeds — its port on a VLAN, its MAC, its link state and the name
 * its port shows in VLAN listings and captures ("web.eth0"). The link is set here, for every model
 * alike (from Lua, the registry or the model's own reset), and the model hears of each change
 * through link_changed, to tell its driver the way its hardware would (virtio-net: the status bit
 * and a configuration interrupt). A NIC with its link down neither sends nor receives. */
#ifndef LEMU_NIC_H
#define LEMU_NIC_H

#include <stdint.h>

#include "port.h"

typedef struct nic {
  net_port port;
  uint8_t mac[6];
  int link_up;
  void (*link_changed)(struct nic *n);   /* may be NULL */
} nic;

/* owner is the model (port->owner); name is copied into the port. The link starts up. */
void nic_init(nic *n, const net_port_ops *ops, void *owner, const uint8_t mac[6], const char *name,
              void (*link_changed)(nic *n));
void nic_set_link(nic *n, int up);

#endif
