/* nic: see nic.h. */
#include "nic.h"

#include <string.h>

void nic_init(nic *n, const net_port_ops *ops, void *owner, const uint8_t mac[6], const char *name,
              void (*link_changed)(nic *n)) {
  net_port_init(&n->port, ops, owner, name);
  memcpy(n->mac, mac, 6);
  n->link_up = 1;
  n->link_changed = link_changed;
}

void nic_set_link(nic *n, int up) {
  up = !!up;
  if (n->link_up == up) return;
  n->link_up = up;
  net_port_set_link(&n->port, up);
  if (n->link_changed) n->link_changed(n);
}
