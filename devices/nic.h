/* nic: the base every NIC model embeds — its port on a VLAN, its MAC, its link state and the name
 * its port shows in VLAN listings and captures ("web.eth0"). The link is set here, for every model
 * alike (from Lua, the registry or the model's own reset), and the model hears of each change
 * through link_changed, to tell its driver the way its hardware would (virtio-net: the status bit
 * and a configuration interrupt). A NIC with its link down neither sends nor receives.
 *
 * A NIC model that is a PCI function of its own (e1000, rtl8139, ne2k_pci) also exports one
 * nic_pci_model table: the board's registry builds, plugs, reports and frees it through that
 * table alone. */
#ifndef LEMU_NIC_H
#define LEMU_NIC_H

#include <stdint.h>

#include "dtimer.h"
#include "pci.h"
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

/* What a model's counters are reported through: one call per counter, name in snake_case. */
typedef void (*nic_counter_fn)(void *ud, const char *name, uint64_t value);

typedef struct nic_pci_model {
  const char *name;                    /* QEMU's -device name */
  /* A new card with its EEPROM or PROM holding mac, its port named name (not yet on a VLAN), its
   * timers on clock. NULL when out of memory. */
  void *(*create)(const uint8_t mac[6], const char *name, dtimer_clock *clock);
  pci_dev *(*pci)(void *card);         /* the function to plug */
  nic *(*nic)(void *card);             /* its NIC base */
  /* Frees the card: its port is detached and its function unplugged (or never plugged). */
  void (*destroy)(void *card);
  /* The model's own counters (refusals of hostile descriptors, frames held, ...). */
  void (*counters)(void *card, nic_counter_fn put, void *ud);
} nic_pci_model;

#endif
