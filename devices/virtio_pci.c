/* virtio_pci: a transitional virtio PCI function over the virtio core — QEMU's IDs, BARs and
 * capability layout; the legacy I/O registers, the modern common/ISR/device/notify structures and
 * the PCI_CFG window onto them; an inert MSI-X table; INTx from the ISR. Register offsets and
 * semantics follow the virtio 1.x spec (4.1, and 4.1.4.8 for the legacy interface). */
#include "virtio_pci.h"

#include <stdlib.h>
#include <string.h>

/* What QEMU 7.2 shows for each model: device id, class, the device config size its legacy BAR is
 * sized for, and MSI-X vectors (net: 2 per queue pair + 2; others: queues + 1). */
typedef struct ident {
  uint32_t virtio_id;
  uint16_t device;
  uint32_t class_code;
  uint32_t config_len;
  int vectors;
} ident;

static const ident idents[] = {
  {VIRTIO_ID_NET, 0x1000, 0x020000, 8, 4},
  {VIRTIO_ID_BLOCK, 0x1001, 0x010000, 60, 2},
  {VIRTIO_ID_RNG, 0x1005, 0x00ff00, 0, 2},
};

#define VENDOR 0x1af4
#define MSIX_MAX 4
#define NO_VECTOR 0xffff

/* BAR4's layout (QEMU's): each structure in its own 4 KiB, the notify doorbells 4 bytes apart. */
enum {
  COMMON = 0x0000, ISR = 0x1000, DEVICE = 0x2000, NOTIFY = 0x3000, MODERN_SIZE = 0x4000,
  NOTIFY_MULT = 4,
};
enum { CAP_COMMON = 1, CAP_NOTIFY = 2, CAP_ISR = 3, CAP_DEVICE = 4, CAP_PCI_CFG = 5 };

/* The common configuration structure. */
enum {
  C_DFSELECT = 0x00, C_DF = 0x04, C_GFSELECT = 0x08, C_GF = 0x0c, C_MSIX = 0x10, C_NUMQ = 0x12,
  C_STATUS = 0x14, C_CFGGEN = 0x15, C_Q_SELECT = 0x16, C_Q_SIZE = 0x18, C_Q_MSIX = 0x1a,
  C_Q_ENABLE = 0x1c, C_Q_NOFF = 0x1e, C_Q_DESCLO = 0x20, C_Q_DESCHI = 0x24, C_Q_AVAILLO = 0x28,
  C_Q_AVAILHI = 0x2c, C_Q_USEDLO = 0x30, C_Q_USEDHI = 0x34,
};

/* The legacy I/O registers; the device config follows at 20, or 24 while MSI-X is enabled. */
enum {
  L_HOST_FEATURES = 0x00, L_GUEST_FEATURES = 0x04, L_QUEUE_PFN = 0x08, L_QUEUE_NUM = 0x0c,
  L_QUEUE_SEL = 0x0e, L_QUEUE_NOTIFY = 0x10, L_STATUS = 0x12, L_ISR = 0x13, L_MSIX_CONFIG = 0x14,
  L_MSIX_QUEUE = 0x16,
};

struct virtio_pci {
  pci_dev pci;
  virtio *vd;
  const ident *id;
  uint32_t dfselect, gfselect, queue_sel;
  uint16_t config_vector, queue_vector[VIRTIO_MAX_QUEUES];
  int level;                           /* the ISR's interrupt, before MSI-X takes it */
  int cfg_cap, msix_cap;
  uint8_t msix[16 * MSIX_MAX];
};

static int msix_enabled(const virtio_pci *t) {
  return (pci_get(&t->pci, (uint32_t)t->msix_cap + 2, 2) & 0x8000) != 0;
}

static void update_intx(virtio_pci *t) { pci_set_irq(&t->pci, t->level && !msix_enabled(t)); }

static void on_irq(void *ud, int level) {
  virtio_pci *t = ud;
  t->level = level;
  update_intx(t);
}

static uint8_t *on_dma(void *ud, uint64_t pa, uint64_t len, int write) {
  return pci_dma_map(&((virtio_pci *)ud)->pci, pa, len, write);
}

static int on_dma_on(void *ud) { return pci_bus_master(&((virtio_pci *)ud)->pci); }

static void transport_reset(virtio_pci *t) {
  t->dfselect = t->gfselect = t->queue_sel = 0;
  t->config_vector = NO_VECTOR;
  for (int i = 0; i < VIRTIO_MAX_QUEUES; i++) t->queue_vector[i] = NO_VECTOR;
}

static void device_reset(virtio_pci *t) {
  transport_reset(t);
  virtio_reset(t->vd);
}

static int nqueues(const virtio_pci *t) { return virtio_ops(t->vd)->nqueues; }

/* A vector the driver assigns: one of the table's, or none. */
static uint16_t vector(const virtio_pci *t, uint32_t v) {
  return v < (uint32_t)t->id->vectors ? (uint16_t)v : NO_VECTOR;
}

/* ---- the modern structures in BAR4 ---- */

static uint64_t common_read(virtio_pci *t, uint64_t off) {
  virtio *vd = t->vd;
  int q = (int)t->queue_sel;
  switch (off) {
  case C_DFSELECT: return t->dfselect;
  case C_DF: return t->dfselect < 2 ? (uint32_t)(virtio_offered(vd, 0) >> (32 * t->dfselect)) : 0;
  case C_GFSELECT: return t->gfselect;
  case C_GF: return t->gfselect < 2 ? (uint32_t)(virtio_features(vd) >> (32 * t->gfselect)) : 0;
  case C_MSIX: return t->config_vector;
  case C_NUMQ: return (uint32_t)nqueues(t);
  case C_STATUS: return virtio_status(vd);
  case C_CFGGEN: return virtio_config_generation(vd) & 0xff;
  case C_Q_SELECT: return t->queue_sel;
  case C_Q_SIZE: return virtio_queue_num(vd, q);
  case C_Q_MSIX: return q < nqueues(t) ? t->queue_vector[q] : NO_VECTOR;
  case C_Q_ENABLE: return (uint32_t)virtio_queue_enabled(vd, q);
  case C_Q_NOFF: return q < nqueues(t) ? t->queue_sel : 0;   /* queue n rings doorbell n */
  case C_Q_DESCLO: case C_Q_AVAILLO: case C_Q_USEDLO:
    return (uint32_t)virtio_queue_addr(vd, q, (int)(off - C_Q_DESCLO) / 8);
  case C_Q_DESCHI: case C_Q_AVAILHI: case C_Q_USEDHI:
    return (uint32_t)(virtio_queue_addr(vd, q, (int)(off - C_Q_DESCHI) / 8) >> 32);
  default: return 0;
  }
}

static void common_write(virtio_pci *t, uint64_t off, uint32_t val) {
  virtio *vd = t->vd;
  int q = (int)t->queue_sel;
  switch (off) {
  case C_DFSELECT: t->dfselect = val; break;
  case C_GFSELECT: t->gfselect = val; break;
  case C_GF: {
    if (t->gfselect > 1) break;
    uint64_t f = virtio_features(vd), sh = 32 * t->gfselect;
    f = (f & ~(0xffffffffull << sh)) | (uint64_t)val << sh;
    virtio_set_driver_features(vd, f, 0);
    break;
  }
  case C_MSIX: t->config_vector = vector(t, val & 0xffff); break;
  case C_STATUS:
    if ((val & 0xff) == 0) transport_reset(t);
    virtio_set_status(vd, val & 0xff);
    break;
  case C_Q_SELECT: t->queue_sel = val & 0xffff; break;
  case C_Q_SIZE: virtio_queue_set_num(vd, q, val & 0xffff); break;
  case C_Q_MSIX: if (q < nqueues(t)) t->queue_vector[q] = vector(t, val & 0xffff); break;
  case C_Q_ENABLE: if (val & 1) virtio_queue_enable(vd, q, 1); break;
  case C_Q_DESCLO: case C_Q_AVAILLO: case C_Q_USEDLO: case C_Q_DESCHI: case C_Q_AVAILHI:
  case C_Q_USEDHI: {
    int which = (int)(off - C_Q_DESCLO) / 8, hi = (off - C_Q_DESCLO) % 8 != 0;
    uint64_t a = virtio_queue_addr(vd, q, which);
    a = hi ? (a & 0xffffffffull) | (uint64_t)val << 32 : (a & ~0xffffffffull) | val;
    virtio_queue_set_addr(vd, q, which, a);
    break;
  }
  default: break;
  }
}

static uint64_t modern_read(void *opaque, uint64_t off, int size) {
  virtio_pci *t = opaque;
  if (size == 8) return modern_read(t, off, 4) | modern_read(t, off + 4, 4) << 32;
  if (off < ISR) return common_read(t, off);
  if (off < DEVICE) return virtio_isr_take(t->vd);          /* reading acknowledges */
  if (off < NOTIFY) return virtio_config_read(t->vd, (uint32_t)(off - DEVICE), size);
  return 0;
}

static void modern_write(void *opaque, uint64_t off, uint64_t val, int size) {
  virtio_pci *t = opaque;
  if (size == 8) {
    modern_write(t, off, val & 0xffffffffu, 4);
    modern_write(t, off + 4, val >> 32, 4);
    return;
  }
  if (off < ISR) common_write(t, off, (uint32_t)val);
  else if (off < DEVICE) return;
  else if (off < NOTIFY) virtio_config_write(t->vd, (uint32_t)(off - DEVICE), (uint32_t)val, size);
  else virtio_queue_kick(t->vd, (int)((off - NOTIFY) / NOTIFY_MULT));
}

static const bus_dev_ops modern_ops = {modern_read, modern_write};

/* ---- the legacy registers in BAR0 ---- */

static uint32_t legacy_config_off(const virtio_pci *t) { return msix_enabled(t) ? 24 : 20; }

static uint64_t legacy_read(void *opaque, uint64_t off, int size) {
  virtio_pci *t = opaque;
  virtio *vd = t->vd;
  int q = (int)t->queue_sel;
  if (off >= legacy_config_off(t))
    return virtio_config_read(vd, (uint32_t)(off - legacy_config_off(t)), size);
  switch (off) {
  case L_HOST_FEATURES: return (uint32_t)virtio_offered(vd, 1);
  case L_GUEST_FEATURES: return (uint32_t)virtio_features(vd);
  case L_QUEUE_PFN: return virtio_queue_pfn(vd, q);
  case L_QUEUE_NUM: return virtio_queue_num(vd, q);
  case L_QUEUE_SEL: return t->queue_sel;
  case L_STATUS: return virtio_status(vd);
  case L_ISR: return virtio_isr_take(vd);
  case L_MSIX_CONFIG: return t->config_vector;
  case L_MSIX_QUEUE: return q < nqueues(t) ? t->queue_vector[q] : NO_VECTOR;
  default: return 0;
  }
}

static void legacy_write(void *opaque, uint64_t off, uint64_t val64, int size) {
  virtio_pci *t = opaque;
  virtio *vd = t->vd;
  uint32_t val = (uint32_t)val64;
  int q = (int)t->queue_sel;
  if (off >= legacy_config_off(t)) {
    virtio_config_write(vd, (uint32_t)(off - legacy_config_off(t)), val, size);
    return;
  }
  switch (off) {
  case L_GUEST_FEATURES: virtio_set_driver_features(vd, val, 1); break;
  case L_QUEUE_PFN:
    /* Writing 0 resets the whole device, as QEMU does (the legacy driver's way to stop). */
    if (val == 0) device_reset(t);
    else virtio_queue_set_pfn(vd, q, val, 4096, 4096);
    break;
  case L_QUEUE_SEL: t->queue_sel = val & 0xffff; break;
  case L_QUEUE_NOTIFY: virtio_queue_kick(vd, (int)(val & 0xffff)); break;
  case L_STATUS:
    val &= 0xff;
    if (val == 0) transport_reset(t);
    virtio_set_status(vd, val);
    /* Legacy drivers from before Linux 2.6.34 never enable bus mastering; QEMU turns it on for
     * them when they acknowledge the device, and so do we. */
    if (val == (VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER))
      pci_config_write(&t->pci, PCI_COMMAND,
                       pci_get(&t->pci, PCI_COMMAND, 2) | PCI_COMMAND_MASTER, 2);
    break;
  case L_MSIX_CONFIG: t->config_vector = vector(t, val & 0xffff); break;
  case L_MSIX_QUEUE: if (q < nqueues(t)) t->queue_vector[q] = vector(t, val & 0xffff); break;
  default: break;
  }
}

static const bus_dev_ops legacy_ops = {legacy_read, legacy_write};

/* ---- MSI-X in BAR1: the table (16 bytes a vector) and the pending bits at 0x800 ---- */

static uint64_t msix_read(void *opaque, uint64_t off, int size) {
  virtio_pci *t = opaque;
  uint64_t v = 0;
  if (off + (uint64_t)size <= 16ull * (uint64_t)t->id->vectors)
    for (int i = 0; i < size; i++) v |= (uint64_t)t->msix[off + (uint64_t)i] << (8 * i);
  return v;                            /* nothing is ever pending: no message is sent */
}

static void msix_write(void *opaque, uint64_t off, uint64_t val, int size) {
  virtio_pci *t = opaque;
  if (off + (uint64_t)size > 16ull * (uint64_t)t->id->vectors) return;
  for (int i = 0; i < size; i++) t->msix[off + (uint64_t)i] = (uint8_t)(val >> (8 * i));
}

static const bus_dev_ops msix_ops = {msix_read, msix_write};

static void msix_reset(virtio_pci *t) {
  memset(t->msix, 0, sizeof t->msix);
  for (int i = 0; i < t->id->vectors; i++) t->msix[16 * i + 12] = 1;   /* masked */
  uint32_t ctl = (uint32_t)t->msix_cap + 2;
  pci_put(&t->pci, ctl, pci_get(&t->pci, ctl, 2) & 0x07ff, 2);
}

/* ---- configuration space ---- */

static int overlaps(uint32_t off, int size, uint32_t at, uint32_t len) {
  return off < at + len && at < off + (uint32_t)size;
}

/* The PCI_CFG capability: an access of `length` bytes at `offset` into BAR4, through its data. */
static void cfg_window(virtio_pci *t, int write) {
  uint32_t c = (uint32_t)t->cfg_cap;
  uint32_t off = pci_get(&t->pci, c + 8, 4), len = pci_get(&t->pci, c + 12, 4);
  if ((len != 1 && len != 2 && len != 4) || off >= MODERN_SIZE || MODERN_SIZE - off < len) return;
  if (write) modern_write(t, off, pci_get(&t->pci, c + 16, (int)len), (int)len);
  else pci_put(&t->pci, c + 16, (uint32_t)modern_read(t, off, (int)len), (int)len);
}

static void config_written(pci_dev *d, uint32_t off, uint32_t val, int size) {
  virtio_pci *t = d->owner;
  (void)val;
  if (overlaps(off, size, (uint32_t)t->cfg_cap + 16, 4)) cfg_window(t, 1);
  if (overlaps(off, size, (uint32_t)t->msix_cap + 2, 2)) update_intx(t);
  /* Bus mastering turned off: the device can no longer use its queues (QEMU drops DRIVER_OK). */
  if (overlaps(off, size, PCI_COMMAND, 1) && !pci_bus_master(d) &&
      (virtio_status(t->vd) & VIRTIO_S_DRIVER_OK))
    virtio_set_status(t->vd, virtio_status(t->vd) & ~(uint32_t)VIRTIO_S_DRIVER_OK);
}

static void config_reading(pci_dev *d, uint32_t off, int size) {
  virtio_pci *t = d->owner;
  if (overlaps(off, size, (uint32_t)t->cfg_cap + 16, 4)) cfg_window(t, 0);
}

static void pci_reset(pci_dev *d) {
  virtio_pci *t = d->owner;
  msix_reset(t);
  device_reset(t);
  update_intx(t);
}

static const pci_dev_ops vpci_ops = {config_written, config_reading, pci_reset};

/* A virtio vendor capability pointing at len bytes at off in BAR4. */
static int vendor_cap(virtio_pci *t, int type, int caplen, uint32_t off, uint32_t len) {
  int at = pci_add_capability(&t->pci, PCI_CAP_ID_VNDR, caplen);
  if (at < 0) return -1;
  pci_put(&t->pci, (uint32_t)at + 2, (uint32_t)caplen, 1);
  pci_put(&t->pci, (uint32_t)at + 3, (uint32_t)type, 1);
  pci_put(&t->pci, (uint32_t)at + 4, type == CAP_PCI_CFG ? 0 : 4, 1);
  pci_put(&t->pci, (uint32_t)at + 8, off, 4);
  pci_put(&t->pci, (uint32_t)at + 12, len, 4);
  return at;
}

static uint32_t pow2ceil(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

virtio_pci *virtio_pci_new(bus *sys, const virtio_device_ops *ops, void *dev) {
  const ident *id = NULL;
  for (size_t i = 0; i < sizeof idents / sizeof idents[0]; i++)
    if (idents[i].virtio_id == ops->id) id = &idents[i];
  if (!id) return NULL;
  virtio_pci *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->id = id;
  virtio_hooks h = {t, on_irq, on_dma, on_dma_on};
  t->vd = virtio_new(sys, ops, dev, &h);
  if (!t->vd) { free(t); return NULL; }
  pci_id pid = {VENDOR, id->device, 0, id->class_code, VENDOR, (uint16_t)ops->id, 1};
  pci_dev_init(&t->pci, &pid, &vpci_ops, t, ops->name);
  pci_register_bar(&t->pci, 0, PCI_BAR_IO, pow2ceil(24 + id->config_len), &legacy_ops, t);
  pci_register_bar(&t->pci, 1, PCI_BAR_MEM32, 0x1000, &msix_ops, t);
  pci_register_bar(&t->pci, 4, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, MODERN_SIZE, &modern_ops, t);
  /* In QEMU's order; each lands first-fit and at the head of the list, so the list runs from
   * MSI-X (0x98) back to the common structure (0x40). */
  vendor_cap(t, CAP_COMMON, 16, COMMON, 0x1000);
  vendor_cap(t, CAP_ISR, 16, ISR, 0x1000);
  vendor_cap(t, CAP_DEVICE, 16, DEVICE, 0x1000);
  int n = vendor_cap(t, CAP_NOTIFY, 20, NOTIFY, 0x1000);
  pci_put(&t->pci, (uint32_t)n + 16, NOTIFY_MULT, 4);
  t->cfg_cap = vendor_cap(t, CAP_PCI_CFG, 20, 0, 0);
  pci_set_wmask(&t->pci, (uint32_t)t->cfg_cap + 4, 1, 0xff);    /* bar */
  pci_set_wmask(&t->pci, (uint32_t)t->cfg_cap + 8, 12, 0xff);   /* offset, length, data */
  t->msix_cap = pci_add_capability(&t->pci, PCI_CAP_ID_MSIX, 12);
  pci_put(&t->pci, (uint32_t)t->msix_cap + 2, (uint32_t)(id->vectors - 1), 2);
  pci_put(&t->pci, (uint32_t)t->msix_cap + 4, 0x000 | 1, 4);     /* table: BAR1 + 0 */
  pci_put(&t->pci, (uint32_t)t->msix_cap + 8, 0x800 | 1, 4);     /* PBA: BAR1 + 0x800 */
  pci_set_wmask(&t->pci, (uint32_t)t->msix_cap + 3, 1, 0xc0);   /* enable, function mask */
  msix_reset(t);
  transport_reset(t);
  return t;
}

void virtio_pci_free(virtio_pci *t) {
  if (!t) return;
  virtio_free(t->vd);
  free(t);
}

pci_dev *virtio_pci_dev(virtio_pci *t) { return &t->pci; }
virtio *virtio_pci_virtio(virtio_pci *t) { return t->vd; }
