/* pci: configuration space with its masks, BAR sizing and decoding, capabilities, INTx with the
 * swizzle and wired-OR of the host lines, ECAM and window decoding, and bus-master-gated DMA. The
 * rules are those of the PCI Local Bus spec and of QEMU's PCI core where it chooses (all-ones for
 * anything absent, BARs at address 0 allowed as on the virt board). */
#include "pci.h"

#include <stdlib.h>
#include <string.h>

struct pci_bus {
  bus *sys;
  pci_bus_hooks hooks;
  pci_dev *dev[PCI_DEVFNS];
  int ndev;
  uint8_t list[PCI_DEVFNS];      /* devfns plugged, in plug order: the window decode walks these */
  int count[4];                  /* functions asserting each host line */
};

/* Command bits a driver may set; STATUS bits it clears by writing 1. */
#define CMD_WMASK (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR | \
                   PCI_COMMAND_INTX_DISABLE)
#define STATUS_W1C (PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT | PCI_STATUS_REC_TARGET_ABORT | \
                    PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_SIG_SYSTEM_ERROR | \
                    PCI_STATUS_DETECTED_PARITY)

static void put_mask(uint8_t *m, uint32_t off, uint32_t val, int size) {
  for (int i = 0; i < size; i++) m[off + (uint32_t)i] = (uint8_t)(val >> (8 * i));
}

void pci_dev_init(pci_dev *d, const pci_id *id, const pci_dev_ops *ops, void *owner,
                  const char *name) {
  memset(d, 0, sizeof *d);
  d->ops = ops;
  d->owner = owner;
  d->name = name;
  d->devfn = -1;
  pci_put(d, PCI_VENDOR_ID, id->vendor, 2);
  pci_put(d, PCI_DEVICE_ID, id->device, 2);
  pci_put(d, PCI_REVISION_ID, id->revision, 1);
  pci_put(d, PCI_CLASS_PROG, id->class_code, 3);
  pci_put(d, PCI_SUBSYSTEM_VENDOR_ID, id->subvendor, 2);
  pci_put(d, PCI_SUBSYSTEM_ID, id->subdevice, 2);
  pci_put(d, PCI_INTERRUPT_PIN, id->pin, 1);
  put_mask(d->wmask, PCI_COMMAND, CMD_WMASK, 2);
  put_mask(d->w1cmask, PCI_STATUS, STATUS_W1C, 2);
  d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
  d->wmask[PCI_INTERRUPT_LINE] = 0xff;
  /* The device-specific area is the driver's until a capability claims part of it. */
  memset(d->wmask + 0x40, 0xff, PCI_CONFIG_SIZE - 0x40);
}

static int is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

int pci_register_bar(pci_dev *d, int i, uint8_t type, uint64_t size, const bus_dev_ops *ops,
                     void *opaque) {
  int io = type & PCI_BAR_IO, wide = !io && (type & PCI_BAR_MEM64);
  if (i < 0 || i + wide >= PCI_NUM_BARS || !is_pow2(size) || size < (io ? 4u : 16u)) return -1;
  if ((io && size > 0x10000) || (!wide && size > 0x80000000ull)) return -1;
  if (d->bar[i].size || (wide && d->bar[i + 1].size)) return -1;
  if (i > 0 && (d->bar[i - 1].type & PCI_BAR_MEM64) && !(d->bar[i - 1].type & PCI_BAR_IO) &&
      d->bar[i - 1].size)
    return -1;                                      /* the high half of the BAR before */
  d->bar[i] = (pci_bar){size, type, ops, opaque};
  uint32_t off = PCI_BAR0 + 4u * (uint32_t)i;
  uint64_t mask = ~(size - 1);
  pci_put(d, off, type, 4);
  put_mask(d->wmask, off, (uint32_t)mask & ~(io ? 3u : 15u), 4);
  if (wide) {
    pci_put(d, off + 4, 0, 4);
    put_mask(d->wmask, off + 4, (uint32_t)(mask >> 32), 4);
  }
  return 0;
}

static int cap_room(const pci_dev *d, int at, int len) {
  for (int i = at; i < at + len; i++)
    if (d->capmap[i / 8] & (1u << (i % 8))) return 0;
  return 1;
}

int pci_add_capability(pci_dev *d, uint8_t id, int len) {
  if (len < 2) return -1;
  for (int at = 0x40; at + len <= PCI_CONFIG_SIZE; at++) {
    if (!cap_room(d, at, len)) continue;
    memset(d->wmask + at, 0, (size_t)len);
    memset(d->cfg + at, 0, (size_t)len);
    for (int i = at; i < at + len; i++) d->capmap[i / 8] |= (uint8_t)(1u << (i % 8));
    d->cfg[at] = id;
    d->cfg[at + 1] = d->cfg[PCI_CAPABILITY_LIST];
    d->cfg[PCI_CAPABILITY_LIST] = (uint8_t)at;
    pci_put(d, PCI_STATUS, pci_get(d, PCI_STATUS, 2) | PCI_STATUS_CAP_LIST, 2);
    return at;
  }
  return -1;
}

void pci_set_wmask(pci_dev *d, uint32_t off, int n, uint8_t mask) {
  for (int i = 0; i < n && off + (uint32_t)i < PCI_CONFIG_SIZE; i++) d->wmask[off + (uint32_t)i] = mask;
}

/* The level the bus sees: the device's INTx unless the driver disabled it. */
static int intx_out(const pci_dev *d) {
  return d->intx && d->cfg[PCI_INTERRUPT_PIN] &&
         !(pci_get(d, PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE);
}

static void line_change(pci_bus *pb, int line, int delta) {
  int was = pb->count[line] > 0;
  pb->count[line] += delta;
  int now = pb->count[line] > 0;
  if (was != now && pb->hooks.intx) pb->hooks.intx(pb->hooks.ud, line, now);
}

int pci_swizzle(int slot, int pin) { return (slot + pin - 1) & 3; }

/* Re-evaluates what d drives onto its host line, given that it drove `was` before. */
static void intx_update(pci_dev *d, int was) {
  int now = intx_out(d);
  if (was == now || !d->bus) return;
  line_change(d->bus, pci_swizzle(PCI_SLOT(d->devfn), d->cfg[PCI_INTERRUPT_PIN]), now ? 1 : -1);
}

void pci_set_irq(pci_dev *d, int level) {
  int was = intx_out(d);
  d->intx = !!level;
  uint32_t st = pci_get(d, PCI_STATUS, 2);
  pci_put(d, PCI_STATUS, d->intx ? st | PCI_STATUS_INTERRUPT : st & ~(uint32_t)PCI_STATUS_INTERRUPT, 2);
  intx_update(d, was);
}

uint32_t pci_config_read(pci_dev *d, uint32_t off, int size) {
  if (off >= PCI_CONFIG_SIZE || (uint32_t)size > PCI_CONFIG_SIZE - off) return 0xffffffffu;
  if (d->ops && d->ops->config_reading) d->ops->config_reading(d, off, size);
  return pci_get(d, off, size);
}

void pci_config_write(pci_dev *d, uint32_t off, uint32_t val, int size) {
  if (off >= PCI_CONFIG_SIZE || (uint32_t)size > PCI_CONFIG_SIZE - off) return;
  int was = intx_out(d);
  for (int i = 0; i < size; i++) {
    uint32_t at = off + (uint32_t)i;
    uint8_t v = (uint8_t)(val >> (8 * i));
    d->cfg[at] = (uint8_t)((d->cfg[at] & ~d->wmask[at]) | (v & d->wmask[at]));
    d->cfg[at] &= (uint8_t)~(v & d->w1cmask[at]);
  }
  intx_update(d, was);                              /* INTX_DISABLE may have changed */
  if (d->ops && d->ops->config_written) d->ops->config_written(d, off, val, size);
}

uint64_t pci_bar_addr(const pci_dev *d, int i) {
  if (i < 0 || i >= PCI_NUM_BARS) return PCI_BAR_UNMAPPED;
  const pci_bar *b = &d->bar[i];
  if (!b->size) return PCI_BAR_UNMAPPED;
  uint32_t cmd = pci_get(d, PCI_COMMAND, 2), off = PCI_BAR0 + 4u * (uint32_t)i;
  int io = b->type & PCI_BAR_IO, wide = !io && (b->type & PCI_BAR_MEM64);
  if (!(cmd & (io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY))) return PCI_BAR_UNMAPPED;
  uint64_t raw = pci_get(d, off, 4);
  if (wide) raw |= (uint64_t)pci_get(d, off + 4, 4) << 32;
  uint64_t base = raw & ~(b->size - 1), last = base + b->size - 1;
  /* A BAR being sized (all ones) or past its type's reach decodes nothing. */
  if (last < base || last == UINT64_MAX || (!wide && last >= 0xffffffffull)) return PCI_BAR_UNMAPPED;
  return base;
}

int pci_bus_master(const pci_dev *d) { return (pci_get(d, PCI_COMMAND, 2) & PCI_COMMAND_MASTER) != 0; }

void pci_dev_reset(pci_dev *d) {
  int was = intx_out(d);
  d->intx = 0;
  /* What the driver could set goes back to 0; identity, BAR types and capabilities stay. */
  pci_put(d, PCI_COMMAND, pci_get(d, PCI_COMMAND, 2) & ~(uint32_t)CMD_WMASK, 2);
  pci_put(d, PCI_STATUS, pci_get(d, PCI_STATUS, 2) & ~(uint32_t)(STATUS_W1C | PCI_STATUS_INTERRUPT), 2);
  d->cfg[PCI_CACHE_LINE_SIZE] = 0;
  d->cfg[PCI_INTERRUPT_LINE] = 0;
  for (int i = 0; i < PCI_NUM_BARS; i++) {
    if (!d->bar[i].size) continue;
    uint32_t off = PCI_BAR0 + 4u * (uint32_t)i;
    pci_put(d, off, d->bar[i].type, 4);
    if (!(d->bar[i].type & PCI_BAR_IO) && (d->bar[i].type & PCI_BAR_MEM64)) pci_put(d, off + 4, 0, 4);
  }
  intx_update(d, was);
  if (d->ops && d->ops->reset) d->ops->reset(d);
}

uint8_t *pci_dma_map(pci_dev *d, uint64_t pa, uint64_t len, int write) {
  if (!d->bus || !pci_bus_master(d)) return NULL;
  uint8_t *p = bus_ram_ptr(d->bus->sys, pa, len);
  if (p && write) bus_dma_written(d->bus->sys, pa, len);
  return p;
}

int pci_dma_read(pci_dev *d, uint64_t pa, void *dst, uint64_t len) {
  if (len == 0) return 0;
  uint8_t *p = pci_dma_map(d, pa, len, 0);
  if (!p) return -1;
  memcpy(dst, p, len);
  return 0;
}

int pci_dma_write(pci_dev *d, uint64_t pa, const void *src, uint64_t len) {
  if (len == 0) return 0;
  uint8_t *p = pci_dma_map(d, pa, len, 1);
  if (!p) return -1;
  memcpy(p, src, len);
  return 0;
}

/* ---- the bus ---- */

pci_bus *pci_bus_new(bus *sys, const pci_bus_hooks *h) {
  pci_bus *pb = calloc(1, sizeof *pb);
  if (!pb) return NULL;
  pb->sys = sys;
  if (h) pb->hooks = *h;
  return pb;
}

void pci_bus_free(pci_bus *pb) {
  if (!pb) return;
  for (int i = 0; i < pb->ndev; i++) pb->dev[pb->list[i]]->bus = NULL;
  free(pb);
}

int pci_bus_plug(pci_bus *pb, pci_dev *d, int devfn) {
  if (devfn < 0) {
    for (int f = 0; f < PCI_DEVFNS; f += 8)
      if (!pb->dev[f]) { devfn = f; break; }
    if (devfn < 0) return -1;
  }
  if (devfn >= PCI_DEVFNS || pb->dev[devfn] || d->bus) return -1;
  pb->dev[devfn] = d;
  pb->list[pb->ndev++] = (uint8_t)devfn;
  d->bus = pb;
  d->devfn = devfn;
  intx_update(d, 0);
  return devfn;
}

pci_dev *pci_bus_dev(pci_bus *pb, int devfn) {
  return devfn >= 0 && devfn < PCI_DEVFNS ? pb->dev[devfn] : NULL;
}

void pci_bus_reset(pci_bus *pb) {
  for (int i = 0; i < pb->ndev; i++) pci_dev_reset(pb->dev[pb->list[i]]);
}

int pci_bus_line(const pci_bus *pb, int line) { return line >= 0 && line < 4 && pb->count[line] > 0; }

static uint64_t ones(int size) { return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1; }

/* The function an ECAM offset names, with its register; NULL for any other bus or an absent one. */
static pci_dev *ecam_dev(pci_bus *pb, uint64_t off, uint32_t *reg) {
  if (off >> 20) return NULL;
  *reg = (uint32_t)(off & 0xfff);
  return pb->dev[(off >> 12) & 0xff];
}

static uint64_t ecam_read(void *opaque, uint64_t off, int size) {
  if (size == 8) return ecam_read(opaque, off, 4) | ecam_read(opaque, off + 4, 4) << 32;
  uint32_t reg;
  pci_dev *d = ecam_dev(opaque, off, &reg);
  /* Beyond the 256 bytes of a conventional function: all ones, like an absent one. */
  if (!d || reg + (uint32_t)size > PCI_CONFIG_SIZE) return ones(size);
  return pci_config_read(d, reg, size);
}

static void ecam_write(void *opaque, uint64_t off, uint64_t val, int size) {
  if (size == 8) {
    ecam_write(opaque, off, val & 0xffffffffu, 4);
    ecam_write(opaque, off + 4, val >> 32, 4);
    return;
  }
  uint32_t reg;
  pci_dev *d = ecam_dev(opaque, off, &reg);
  if (d && reg + (uint32_t)size <= PCI_CONFIG_SIZE) pci_config_write(d, reg, (uint32_t)val, size);
}

const bus_dev_ops pci_ecam_ops = {ecam_read, ecam_write};

/* The BAR that decodes [addr, addr+size) in I/O or memory space now; its offset in *off. */
static const pci_bar *decode(pci_bus *pb, int io, uint64_t addr, int size, uint64_t *off) {
  for (int k = 0; k < pb->ndev; k++) {
    pci_dev *d = pb->dev[pb->list[k]];
    for (int i = 0; i < PCI_NUM_BARS; i++) {
      const pci_bar *b = &d->bar[i];
      if (!b->size || !(b->type & PCI_BAR_IO) != !io) continue;
      uint64_t base = pci_bar_addr(d, i);
      if (base == PCI_BAR_UNMAPPED || addr < base || addr - base > b->size - (uint64_t)size) continue;
      *off = addr - base;
      return b->ops ? b : NULL;
    }
  }
  return NULL;
}

/* A hart's 8-byte access reaches a BAR as two 4-byte ones, low half first: QEMU splits it so for
 * every model here (their registers are at most 32 bits wide), and no device sees a size it was
 * not written for. */
static uint64_t window_read(void *opaque, uint64_t off, int size) {
  if (size == 8) return window_read(opaque, off, 4) | window_read(opaque, off + 4, 4) << 32;
  pci_window *w = opaque;
  uint64_t boff;
  const pci_bar *b = decode(w->pb, w->io, w->base + off, size, &boff);
  if (!b || !b->ops->read) return ones(size);       /* unassigned: all ones, as gpex answers */
  return b->ops->read(b->opaque, boff, size);
}

static void window_write(void *opaque, uint64_t off, uint64_t val, int size) {
  if (size == 8) {
    window_write(opaque, off, val & 0xffffffffu, 4);
    window_write(opaque, off + 4, val >> 32, 4);
    return;
  }
  pci_window *w = opaque;
  uint64_t boff;
  const pci_bar *b = decode(w->pb, w->io, w->base + off, size, &boff);
  if (b && b->ops->write) b->ops->write(b->opaque, boff, val, size);
}

const bus_dev_ops pci_window_ops = {window_read, window_write};
