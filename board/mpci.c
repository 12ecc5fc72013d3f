/* mpci: the virt board's PCIe host (QEMU's gpex): ECAM at 0x30000000, the I/O window at 0x03000000
 * (port 0 at its start), the 32-bit memory window at 0x40000000 and the 64-bit one above RAM, each
 * mapping CPU addresses onto the same PCI addresses; the host bridge at 00:00.0; the four INTx
 * lines on PLIC sources 32..35. The windows read all-ones where no BAR decodes. Devices — virtio
 * models behind a virtio PCI function, and models that are PCI functions of their own (the
 * classic NICs) — take slots as QEMU gives them: the first free one from 1 up, in the order they
 * are plugged, unless one is asked for. */
#include <stdio.h>
#include <string.h>

#include "machine_int.h"

static void on_intx(void *ud, int line, int level) {
  machine_set_irq_line(ud, VIRT_PCIE_IRQ + line, level);
}

uint64_t mpci_high_base(uint64_t ram_size) {
  /* QEMU: the first 16 GiB boundary at or above the end of RAM. */
  uint64_t end = VIRT_DRAM + ram_size;
  return (end + VIRT_PCIE_MMIO_HIGH_SIZE - 1) & ~(VIRT_PCIE_MMIO_HIGH_SIZE - 1);
}

int mpci_init(machine *m) {
  pci_bus_hooks h = {m, on_intx};
  m->pci = pci_bus_new(m->bus, &h);
  if (!m->pci) return -1;
  /* 00:00.0 as QEMU's gpex-root: a host bridge with no BARs and no interrupt. */
  static const pci_id host = {0x1b36, 0x0008, 0, 0x060000, 0x1af4, 0x1100, 0};
  pci_dev_init(&m->pci_host, &host, NULL, m, "gpex-root");
  pci_bus_plug(m->pci, &m->pci_host, 0);
  m->pci_high = mpci_high_base(m->cfg.ram_size);
  m->pci_win[0] = (pci_window){m->pci, 0, 1};
  m->pci_win[1] = (pci_window){m->pci, VIRT_PCIE_MMIO, 0};
  m->pci_win[2] = (pci_window){m->pci, m->pci_high, 0};
  if (bus_add_mmio(m->bus, VIRT_PCIE_ECAM, VIRT_PCIE_ECAM_SIZE, &pci_ecam_ops, m->pci, "pcie-ecam") ||
      bus_add_mmio(m->bus, VIRT_PCIE_PIO, VIRT_PCIE_PIO_SIZE, &pci_window_ops, &m->pci_win[0],
                   "pcie-pio") ||
      bus_add_mmio(m->bus, VIRT_PCIE_MMIO, VIRT_PCIE_MMIO_SIZE, &pci_window_ops, &m->pci_win[1],
                   "pcie-mmio") ||
      bus_add_mmio(m->bus, m->pci_high, VIRT_PCIE_MMIO_HIGH_SIZE, &pci_window_ops, &m->pci_win[2],
                   "pcie-mmio-high"))
    return -1;
  return 0;
}

pci_bus *machine_pci(machine *m) { return m->pci; }

/* Whether slot (or the first free one, slot < 0) can take a function now; 0 or -1 with err. */
static int can_plug(machine *m, const char *name, int slot, char *err, size_t errlen) {
  if (!m->pci) {
    snprintf(err, errlen, "the spike board has no PCIe host (use -M virt)");
    return -1;
  }
  if (m->state != MACHINE_CREATED) {
    snprintf(err, errlen, "%s: devices are plugged before the machine starts "
                          "(lemu.machine{start=false}, then m:start())", name);
    return -1;
  }
  if (slot == 0 || slot >= MACHINE_PCI_SLOTS) {
    snprintf(err, errlen, "%s: PCI slot %d is %s", name, slot,
             slot == 0 ? "the host bridge's" : "out of range (1..31)");
    return -1;
  }
  if (slot > 0 && pci_bus_dev(m->pci, slot << 3)) {
    snprintf(err, errlen, "%s: PCI slot %d is already in use by %s", name, slot,
             pci_bus_dev(m->pci, slot << 3)->name);
    return -1;
  }
  return 0;
}

/* Plugs pd; returns its slot's record or NULL with err when every slot is taken. */
static mpdev *plug(machine *m, pci_dev *pd, const char *name, int slot, char *err, size_t errlen) {
  int devfn = pci_bus_plug(m->pci, pd, slot < 0 ? -1 : slot << 3);
  if (devfn < 0) {
    snprintf(err, errlen, "%s: all %d PCI slots are taken", name, MACHINE_PCI_SLOTS - 1);
    return NULL;
  }
  mpdev *d = &m->pdevs[PCI_SLOT(devfn)];
  memset(d, 0, sizeof *d);
  d->pd = pd;
  return d;
}

int machine_add_virtio_pci(machine *m, const virtio_device_ops *ops, void *dev,
                           void (*dev_free)(void *dev), int slot, virtio **out, char *err,
                           size_t errlen) {
  if (can_plug(m, ops->name, slot, err, errlen) < 0) return -1;
  virtio_pci *t = virtio_pci_new(m->bus, ops, dev);
  if (!t) {
    snprintf(err, errlen, "%s: no virtio PCI identity for this device (or out of memory)", ops->name);
    return -1;
  }
  mpdev *d = plug(m, virtio_pci_dev(t), ops->name, slot, err, errlen);
  if (!d) { virtio_pci_free(t); return -1; }
  d->t = t;
  d->vd = virtio_pci_virtio(t);
  d->ops = ops;
  d->dev = dev;
  d->dev_free = dev_free;
  if (out) *out = d->vd;
  return MACHINE_PCI_ID(PCI_SLOT(d->pd->devfn));
}

int machine_add_pci(machine *m, pci_dev *pd, const char *name, void *dev,
                    void (*dev_free)(void *dev), int slot, char *err, size_t errlen) {
  if (can_plug(m, name, slot, err, errlen) < 0) return -1;
  mpdev *d = plug(m, pd, name, slot, err, errlen);
  if (!d) return -1;
  d->dev = dev;
  d->dev_free = dev_free;
  return MACHINE_PCI_ID(PCI_SLOT(pd->devfn));
}

void *mpci_virtio_dev(machine *m, int slot, const virtio_device_ops **ops) {
  if (slot < 0 || slot >= MACHINE_PCI_SLOTS || !m->pdevs[slot].t) return NULL;   /* not virtio */
  if (ops) *ops = m->pdevs[slot].ops;
  return m->pdevs[slot].dev;
}

void mpci_reset(machine *m) {
  if (m->pci) pci_bus_reset(m->pci);
}

void mpci_free(machine *m) {
  pci_bus_free(m->pci);
  m->pci = NULL;
  for (int i = 0; i < MACHINE_PCI_SLOTS; i++) {
    mpdev *d = &m->pdevs[i];
    if (!d->pd) continue;
    if (d->dev_free) d->dev_free(d->dev);
    if (d->t) virtio_pci_free(d->t);
    memset(d, 0, sizeof *d);
  }
}
