/* mdevices: see mdevices.h. Each constructor builds the device from devices/, puts it on its
 * transport (a virtio-mmio slot, or a PCI function on the PCIe host) and records it in the
 * machine's list. */
#include "mdevices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "e1000.h"
#include "machine_int.h"
#include "ne2k_pci.h"
#include "rtl8139.h"
#include "virtio_blk.h"
#include "virtio_net.h"
#include "virtio_rng.h"

static int record(machine *m, const mdev_model *model, void *dev, int slot, nic *n) {
  struct mdevice *d = &m->devs[m->ndevs];
  d->model = model;
  d->dev = dev;
  d->slot = slot;
  d->nic = n;
  return m->ndevs++;
}

static int room(machine *m, const mdev_model *model, char *err, size_t errlen) {
  if (m->ndevs < MDEV_MAX) return 0;
  snprintf(err, errlen, "%s: a machine takes at most %d devices", model->name, MDEV_MAX);
  return -1;
}

/* The model's transport: a virtio-mmio slot, or a PCI slot (the id machine_add_virtio_pci
 * returns is MACHINE_PCI_ID(slot)). Returns the slot or -1. */
static int add_virtio(machine *m, const mdev_model *model, const mdev_params *p,
                      const virtio_device_ops *ops, void *dev, void (*dev_free)(void *),
                      virtio **vd, char *err, size_t errlen) {
  if (strcmp(model->bus, "pci") != 0)
    return machine_add_virtio(m, ops, dev, dev_free, p->legacy, vd, err, errlen);
  int id = machine_add_virtio_pci(m, ops, dev, dev_free, p->addr, vd, err, errlen);
  return id < 0 ? -1 : id - MACHINE_PCI_ID(0);
}

/* ---- virtio-net ---- */

static void vnet_dev_free(void *dev) {
  vnet *n = dev;
  net_port_detach(vnet_port(n));
  vnet_free(n);
}

static int plug_vnet(machine *m, const mdev_model *model, const mdev_params *p, char *err,
                     size_t errlen) {
  if (room(m, model, err, errlen) < 0) return -1;
  vnet *n = vnet_new(p->mac, p->name ? p->name : model->name);
  if (!n) { snprintf(err, errlen, "out of memory"); return -1; }
  virtio *vd;
  int slot = add_virtio(m, model, p, &vnet_ops, n, vnet_dev_free, &vd, err, errlen);
  if (slot < 0) { vnet_free(n); return -1; }
  vnet_bind(n, vd);
  if (p->vlan) net_port_attach(vnet_port(n), p->vlan);
  return record(m, model, n, slot, vnet_nic(n));
}

/* ---- virtio-rng, virtio-blk ---- */

static int plug_vrng(machine *m, const mdev_model *model, const mdev_params *p, char *err,
                     size_t errlen) {
  if (room(m, model, err, errlen) < 0) return -1;
  /* With the runtime's seed set, the guest's entropy is part of what the seed fixes. */
  vrng_stream *r = NULL;
  if (clock_seeded(m->rt) && !(r = vrng_stream_new(clock_seed(m->rt, "virtio-rng")))) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int slot = add_virtio(m, model, p, &vrng_ops, r, r ? vrng_stream_free : NULL, NULL, err, errlen);
  if (slot < 0) vrng_stream_free(r);
  return slot < 0 ? -1 : record(m, model, r, slot, NULL);
}

static void vblk_dev_free(void *dev) { vblk_close(dev); }

static int plug_vblk(machine *m, const mdev_model *model, const mdev_params *p, char *err,
                     size_t errlen) {
  if (room(m, model, err, errlen) < 0) return -1;
  if (!p->file) { snprintf(err, errlen, "%s: needs a raw image (file=)", model->name); return -1; }
  vblk *b = vblk_open(p->file, p->readonly, err, errlen);
  if (!b) return -1;
  int slot = add_virtio(m, model, p, &vblk_ops, b, vblk_dev_free, NULL, err, errlen);
  if (slot < 0) { vblk_close(b); return -1; }
  return record(m, model, b, slot, NULL);
}

/* ---- NICs that are PCI functions of their own (e1000, rtl8139, ne2k_pci) ---- */

typedef struct card { const nic_pci_model *cls; void *card; } card;

static void card_free(void *dev) {
  card *c = dev;
  net_port_detach(&c->cls->nic(c->card)->port);
  c->cls->destroy(c->card);
  free(c);
}

static int plug_card(machine *m, const mdev_model *model, const mdev_params *p, char *err,
                     size_t errlen) {
  if (room(m, model, err, errlen) < 0) return -1;
  const nic_pci_model *cls = model->card;
  card *c = calloc(1, sizeof *c);
  if (c) c->card = cls->create(p->mac, p->name ? p->name : model->name, machine_clock(m));
  if (!c || !c->card) { free(c); snprintf(err, errlen, "out of memory"); return -1; }
  c->cls = cls;
  int id = machine_add_pci(m, cls->pci(c->card), model->name, c, card_free, p->addr, err, errlen);
  if (id < 0) { cls->destroy(c->card); free(c); return -1; }
  nic *n = cls->nic(c->card);
  if (p->vlan) net_port_attach(&n->port, p->vlan);
  return record(m, model, c, id - MACHINE_PCI_ID(0), n);
}

/* ---- the registry ---- */

static const mdev_model models[] = {
  {"virtio-net-device", "virtio-net virtio", "virtio-mmio", MDEV_NIC, "vlan mac name link legacy",
   "virtio network card (virtio-mmio)", plug_vnet, NULL},
  {"virtio-rng-device", "virtio-rng", "virtio-mmio", MDEV_RNG, "legacy",
   "virtio entropy source fed from the host (virtio-mmio)", plug_vrng, NULL},
  {"virtio-blk-device", "virtio-blk", "virtio-mmio", MDEV_DISK, "file readonly legacy",
   "virtio disk on a raw image (virtio-mmio)", plug_vblk, NULL},
  {"virtio-net-pci", "", "pci", MDEV_NIC, "vlan mac name link addr",
   "virtio network card, transitional (PCI 1af4:1000)", plug_vnet, NULL},
  {"virtio-rng-pci", "", "pci", MDEV_RNG, "addr",
   "virtio entropy source, transitional (PCI 1af4:1005)", plug_vrng, NULL},
  {"virtio-blk-pci", "", "pci", MDEV_DISK, "file readonly addr",
   "virtio disk on a raw image, transitional (PCI 1af4:1001)", plug_vblk, NULL},
  {"e1000", "", "pci", MDEV_NIC, "vlan mac name link addr",
   "Intel 82540EM gigabit network card (PCI 8086:100e)", plug_card, &e1000_model},
  {"rtl8139", "", "pci", MDEV_NIC, "vlan mac name link addr",
   "Realtek RTL8139C+ fast ethernet card (PCI 10ec:8139)", plug_card, &rtl8139_model},
  {"ne2k_pci", "", "pci", MDEV_NIC, "vlan mac name link addr",
   "NE2000-compatible Realtek RTL8029 card (PCI 10ec:8029)", plug_card, &ne2k_pci_model},
};

const mdev_model *mdev_models(int *n) {
  *n = (int)(sizeof models / sizeof models[0]);
  return models;
}

/* name matches one of the space-separated words of list */
static int in_list(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *s = list; s && *s;) {
    const char *e = strchr(s, ' ');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (len == n && memcmp(s, name, n) == 0) return 1;
    s = e ? e + 1 : NULL;
  }
  return 0;
}

const mdev_model *mdev_find(const char *name) {
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
    if (strcmp(models[i].name, name) == 0 || in_list(models[i].aliases, name)) return &models[i];
  return NULL;
}

int mdev_count(const machine *m) { return m->ndevs; }

const mdev_model *mdev_get(machine *m, int i, int *slot, net_port **port) {
  if (i < 0 || i >= m->ndevs) return NULL;
  if (slot) *slot = m->devs[i].slot;
  if (port) *port = m->devs[i].nic ? &m->devs[i].nic->port : NULL;
  return m->devs[i].model;
}

void mdev_counters(machine *m, int i, nic_counter_fn put, void *ud) {
  if (i < 0 || i >= m->ndevs || !m->devs[i].model->card) return;
  const card *c = m->devs[i].dev;
  if (c->cls->counters) c->cls->counters(c->card, put, ud);
}

int mdev_nic_link(machine *m, int i, int up) {
  if (i < 0 || i >= m->ndevs || !m->devs[i].nic) return -1;
  if (up >= 0) nic_set_link(m->devs[i].nic, up);
  return m->devs[i].nic->link_up;
}
