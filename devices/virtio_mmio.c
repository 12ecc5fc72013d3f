/* virtio_mmio: the virtio-mmio register file (version 2 and legacy version 1) over the virtio
 * core: selectors, staged ring addresses and the interrupt acknowledge live here, the rest in the
 * core. */
#include "virtio_mmio.h"

#include <stdlib.h>

enum {
  R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008, R_VENDOR_ID = 0x00c,
  R_DEV_FEATURES = 0x010, R_DEV_FEATURES_SEL = 0x014,
  R_DRV_FEATURES = 0x020, R_DRV_FEATURES_SEL = 0x024,
  R_GUEST_PAGE_SIZE = 0x028,                      /* legacy */
  R_QUEUE_SEL = 0x030, R_QUEUE_NUM_MAX = 0x034, R_QUEUE_NUM = 0x038,
  R_QUEUE_ALIGN = 0x03c, R_QUEUE_PFN = 0x040,     /* legacy */
  R_QUEUE_READY = 0x044, R_QUEUE_NOTIFY = 0x050,
  R_INT_STATUS = 0x060, R_INT_ACK = 0x064, R_STATUS = 0x070,
  R_QUEUE_DESC_LO = 0x080, R_QUEUE_DESC_HI = 0x084,
  R_QUEUE_AVAIL_LO = 0x090, R_QUEUE_AVAIL_HI = 0x094,
  R_QUEUE_USED_LO = 0x0a0, R_QUEUE_USED_HI = 0x0a4,
  R_CONFIG_GEN = 0x0fc, R_CONFIG = 0x100,
};

#define VIRTIO_MAGIC 0x74726976u        /* "virt" */
#define VIRTIO_VENDOR 0x554d4551u       /* "QEMU", as QEMU reports */

struct virtio_mmio {
  virtio *vd;
  int legacy;
  void (*irq)(void *ud, int level);
  void *ud;
  uint32_t dev_features_sel, drv_features_sel, queue_sel;
  uint32_t guest_page_size, queue_align;
};

static void selectors_reset(virtio_mmio *t) {
  t->dev_features_sel = t->drv_features_sel = t->queue_sel = 0;
}

static void on_irq(void *ud, int level) {
  virtio_mmio *t = ud;
  if (t->irq) t->irq(t->ud, level);
}

virtio_mmio *virtio_mmio_new(bus *b, const virtio_device_ops *ops, void *dev,
                             void (*irq)(void *ud, int level), void *ud, int legacy) {
  virtio_mmio *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  virtio_hooks h = {t, on_irq, NULL, NULL};
  t->vd = virtio_new(b, ops, dev, &h);
  if (!t->vd) { free(t); return NULL; }
  t->legacy = legacy;
  t->irq = irq;
  t->ud = ud;
  return t;
}

void virtio_mmio_free(virtio_mmio *t) {
  if (!t) return;
  virtio_free(t->vd);
  free(t);
}

void virtio_mmio_reset(virtio_mmio *t) {
  selectors_reset(t);
  virtio_reset(t->vd);
}

virtio *virtio_mmio_virtio(virtio_mmio *t) { return t->vd; }

static uint64_t mmio_read(void *opaque, uint64_t off, int size) {
  virtio_mmio *t = opaque;
  virtio *vd = t->vd;
  /* A hart's 8-byte access arrives as two 4-byte ones, low word first, as QEMU's memory core
   * splits it for this device: the registers and the models' config are 32-bit wide at most. */
  if (size == 8) return mmio_read(t, off, 4) | mmio_read(t, off + 4, 4) << 32;
  if (off >= R_CONFIG) return virtio_config_read(vd, (uint32_t)(off - R_CONFIG), size);
  if (size != 4) return 0;
  int q = (int)t->queue_sel;
  int qok = t->queue_sel < (uint32_t)virtio_ops(vd)->nqueues;
  switch (off) {
  case R_MAGIC: return VIRTIO_MAGIC;
  case R_VERSION: return t->legacy ? 1 : 2;
  case R_DEVICE_ID: return virtio_ops(vd)->id;
  case R_VENDOR_ID: return VIRTIO_VENDOR;
  case R_DEV_FEATURES:
    if (t->dev_features_sel > 1) return 0;
    return (uint32_t)(virtio_offered(vd, t->legacy) >> (32 * t->dev_features_sel));
  case R_QUEUE_NUM_MAX: return qok ? VIRTIO_QUEUE_MAX : 0;
  case R_QUEUE_READY: return !t->legacy ? (uint32_t)virtio_queue_enabled(vd, q) : 0;
  case R_QUEUE_PFN: return t->legacy ? virtio_queue_pfn(vd, q) : 0;
  case R_INT_STATUS: return virtio_isr(vd);
  case R_STATUS: return virtio_status(vd);
  case R_CONFIG_GEN: return t->legacy ? 0 : virtio_config_generation(vd);
  default: return 0;
  }
}

/* Replaces the low or high half of a queue's ring address. */
static void set_half(virtio *vd, int q, int which, int hi, uint32_t v) {
  uint64_t a = virtio_queue_addr(vd, q, which);
  a = hi ? (a & 0xffffffffull) | (uint64_t)v << 32 : (a & ~0xffffffffull) | v;
  virtio_queue_set_addr(vd, q, which, a);
}

static void mmio_write(void *opaque, uint64_t off, uint64_t val64, int size) {
  virtio_mmio *t = opaque;
  virtio *vd = t->vd;
  if (size == 8) {                      /* two 4-byte writes, as reads above */
    mmio_write(t, off, val64 & 0xffffffffu, 4);
    mmio_write(t, off + 4, val64 >> 32, 4);
    return;
  }
  uint32_t val = (uint32_t)val64;
  if (off >= R_CONFIG) { virtio_config_write(vd, (uint32_t)(off - R_CONFIG), val, size); return; }
  if (size != 4) return;
  int q = (int)t->queue_sel;
  switch (off) {
  case R_DEV_FEATURES_SEL: t->dev_features_sel = val; break;
  case R_DRV_FEATURES: {
    uint64_t f = virtio_features(vd);
    if (t->drv_features_sel == 0) f = (f & ~0xffffffffull) | val;
    else if (t->drv_features_sel == 1 && !t->legacy) f = (f & 0xffffffffull) | (uint64_t)val << 32;
    else break;
    virtio_set_driver_features(vd, f, t->legacy);
    break;
  }
  case R_DRV_FEATURES_SEL: t->drv_features_sel = val; break;
  case R_GUEST_PAGE_SIZE: if (t->legacy) t->guest_page_size = val; break;
  case R_QUEUE_SEL: t->queue_sel = val; break;
  case R_QUEUE_NUM: virtio_queue_set_num(vd, q, val); break;
  case R_QUEUE_ALIGN: if (t->legacy) t->queue_align = val; break;
  case R_QUEUE_PFN:
    if (t->legacy) virtio_queue_set_pfn(vd, q, val, t->guest_page_size, t->queue_align);
    break;
  case R_QUEUE_READY: if (!t->legacy) virtio_queue_enable(vd, q, val & 1); break;
  case R_QUEUE_NOTIFY: virtio_queue_kick(vd, (int)val); break;
  case R_INT_ACK: virtio_isr_ack(vd, val); break;
  case R_STATUS:
    if (val == 0) selectors_reset(t);
    virtio_set_status(vd, val);
    break;
  case R_QUEUE_DESC_LO: set_half(vd, q, VQ_DESC, 0, val); break;
  case R_QUEUE_DESC_HI: set_half(vd, q, VQ_DESC, 1, val); break;
  case R_QUEUE_AVAIL_LO: set_half(vd, q, VQ_AVAIL, 0, val); break;
  case R_QUEUE_AVAIL_HI: set_half(vd, q, VQ_AVAIL, 1, val); break;
  case R_QUEUE_USED_LO: set_half(vd, q, VQ_USED, 0, val); break;
  case R_QUEUE_USED_HI: set_half(vd, q, VQ_USED, 1, val); break;
  default: break;
  }
}

const bus_dev_ops virtio_mmio_ops = {mmio_read, mmio_write};
