/* mdevices: the device model registry — every device a machine can plug, under QEMU's names, with
 * the bus it sits on, the options it takes and its constructor — and the machine's list of the
 * devices plugged. The command line (-device, -nic, -net nic and their help) and Lua (m:device{},
 * m:nic{}, m:rng(), m:disk{}) all read this one table. Adding a model is one file in devices/ and
 * one entry in mdevices.c.
 *
 * Devices are plugged before the machine starts and live as long as it: a device is named by its
 * index in the machine's list, which never changes. */
#ifndef LEMU_MDEVICES_H
#define LEMU_MDEVICES_H

#include <stdint.h>

#include "machine.h"
#include "nic.h"
#include "port.h"

enum mdev_kind { MDEV_NIC, MDEV_RNG, MDEV_DISK };

/* What a constructor is given. Options a model does not take are refused before it is called. */
typedef struct mdev_params {
  net_hub *vlan;           /* NIC: the VLAN to join (NULL: unplugged wire) */
  uint8_t mac[6];          /* NIC: its MAC, chosen by the caller */
  const char *name;        /* NIC: its port's name in VLAN listings and captures */
  const char *file;        /* disk: the raw image */
  int readonly;            /* disk */
  int legacy;              /* virtio-mmio: show the version 1 register layout */
  int addr;                /* PCI: the slot (device number) on bus 0, or -1 for the first free */
} mdev_params;

typedef struct mdev_model {
  const char *name;        /* QEMU's -device name */
  const char *aliases;     /* other names it answers to, space-separated (QEMU's -nic model=) */
  const char *bus;         /* "virtio-mmio" or "pci" */
  enum mdev_kind kind;
  const char *options;     /* the Lua options it takes, space-separated, for checks and help */
  const char *help;        /* one line */
  /* Builds the device and plugs it; returns its index in the machine's list or -1 with err. */
  int (*plug)(machine *m, const struct mdev_model *model, const mdev_params *p, char *err,
              size_t errlen);
  const nic_pci_model *card;  /* a NIC that is a PCI function of its own: its model's table */
} mdev_model;

/* The registry: n models, and lookup by name or alias (NULL if unknown). */
const mdev_model *mdev_models(int *n);
const mdev_model *mdev_find(const char *name);

/* The devices plugged into m: count, and device i's model, slot (its virtio-mmio slot, or its PCI
 * slot on bus 0) and NIC port (NULL for other kinds); NULL model for a bad index. */
int mdev_count(const machine *m);
const mdev_model *mdev_get(machine *m, int i, int *slot, net_port **port);
/* A NIC's link (through its NIC base, devices/nic.h): up 1/0 sets it (the model tells its driver
 * as the card would), -1 only reads; returns the state, or -1 if device i is not a NIC. */
int mdev_nic_link(machine *m, int i, int up);
/* Device i's own counters, if its model keeps any (put is not called otherwise). */
void mdev_counters(machine *m, int i, nic_counter_fn put, void *ud);

#endif
