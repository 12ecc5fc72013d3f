/* virtio: the virtio-mmio register file (version 2 and legacy version 1), feature negotiation,
 * the device status protocol, and split virtqueues with every guest-supplied address checked. */
#include "virtio.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

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

enum {
  S_ACKNOWLEDGE = 1, S_DRIVER = 2, S_DRIVER_OK = 4, S_FEATURES_OK = 8,
  S_NEEDS_RESET = 0x40, S_FAILED = 0x80,
};

enum { D_NEXT = 1, D_WRITE = 2, D_INDIRECT = 4 };
enum { AVAIL_F_NO_INTERRUPT = 1 };
enum { INT_USED = 1, INT_CONFIG = 2 };

#define VIRTIO_MAGIC 0x74726976u        /* "virt" */
#define VIRTIO_VENDOR 0x554d4551u       /* "QEMU", as QEMU reports */

typedef struct vq {
  uint32_t num;
  int ready;
  uint64_t desc, avail, used;          /* guest-physical */
  uint8_t *hdesc, *havail, *hused;     /* checked host pointers, valid while ready */
  uint16_t last_avail;
  uint16_t used_idx;
  uint32_t pfn;                        /* legacy */
} vq;

struct virtio {
  bus *bus;
  const virtio_device_ops *ops;
  void *dev;
  virtio_hooks hooks;
  int legacy;
  uint32_t status, isr, config_gen;
  uint32_t dev_features_sel, drv_features_sel, queue_sel;
  uint64_t driver_features;
  uint32_t guest_page_size, queue_align;
  int broken;
  vq q[VIRTIO_MAX_QUEUES];
};

static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t ld32(const uint8_t *p) { return ld16(p) | (uint32_t)ld16(p + 2) << 16; }
static uint64_t ld64(const uint8_t *p) { return ld32(p) | (uint64_t)ld32(p + 4) << 32; }
static void st16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void st32(uint8_t *p, uint32_t v) { st16(p, (uint16_t)v); st16(p + 2, (uint16_t)(v >> 16)); }

static void update_irq(virtio *vd) {
  if (vd->hooks.irq) vd->hooks.irq(vd->hooks.ud, vd->isr != 0);
}

static void queue_reset(vq *q) {
  memset(q, 0, sizeof *q);
}

static void device_reset(virtio *vd) {
  vd->status = 0;
  vd->isr = 0;
  vd->broken = 0;
  vd->driver_features = 0;
  vd->dev_features_sel = vd->drv_features_sel = vd->queue_sel = 0;
  for (int i = 0; i < VIRTIO_MAX_QUEUES; i++) queue_reset(&vd->q[i]);
  if (vd->ops->reset) vd->ops->reset(vd->dev);
  update_irq(vd);
}

void virtio_fail(virtio *vd, const char *fmt, ...) {
  char why[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  if (vd->broken) return;
  log_warn(vd->ops->name, "guest driver error, device needs reset: %s", why);
  vd->broken = 1;
  if (!vd->legacy) {
    vd->status |= S_NEEDS_RESET;
    if (vd->status & S_DRIVER_OK) {
      vd->isr |= INT_CONFIG;
      update_irq(vd);
    }
  }
  if (vd->ops->reset) vd->ops->reset(vd->dev);
}

/* Checks a queue's rings lie in RAM and caches their host addresses. */
static int queue_map(virtio *vd, vq *q, int index) {
  if (q->num == 0 || q->num > VIRTIO_QUEUE_MAX || (q->num & (q->num - 1))) {
    virtio_fail(vd, "queue %d: size %u is not a power of two up to %d", index, q->num,
                VIRTIO_QUEUE_MAX);
    return -1;
  }
  q->hdesc = bus_ram_ptr(vd->bus, q->desc, 16ull * q->num);
  q->havail = bus_ram_ptr(vd->bus, q->avail, 6ull + 2ull * q->num);
  q->hused = bus_ram_ptr(vd->bus, q->used, 6ull + 8ull * q->num);
  if (!q->hdesc || !q->havail || !q->hused) {
    virtio_fail(vd, "queue %d: rings at desc 0x%llx avail 0x%llx used 0x%llx are not in RAM", index,
                (unsigned long long)q->desc, (unsigned long long)q->avail,
                (unsigned long long)q->used);
    return -1;
  }
  if ((q->desc & 15) || (q->avail & 1) || (q->used & 3)) {
    virtio_fail(vd, "queue %d: misaligned rings", index);
    return -1;
  }
  q->ready = 1;
  return 0;
}

static void legacy_set_pfn(virtio *vd, vq *q, int index, uint32_t pfn) {
  q->pfn = pfn;
  if (pfn == 0) { q->ready = 0; return; }
  uint64_t page = vd->guest_page_size ? vd->guest_page_size : 4096;
  uint64_t align = vd->queue_align ? vd->queue_align : 4096;
  if (q->num == 0) q->num = VIRTIO_QUEUE_MAX;
  q->desc = (uint64_t)pfn * page;
  q->avail = q->desc + 16ull * q->num;
  q->used = (q->avail + 6ull + 2ull * q->num + align - 1) & ~(align - 1);
  queue_map(vd, q, index);
}

int virtio_driver_ok(const virtio *vd) { return (vd->status & S_DRIVER_OK) && !vd->broken; }
uint64_t virtio_features(const virtio *vd) { return vd->driver_features; }
int virtio_is_legacy(const virtio *vd) { return vd->legacy; }

void virtio_config_changed(virtio *vd) {
  vd->config_gen++;
  if (vd->status & S_DRIVER_OK) {
    vd->isr |= INT_CONFIG;
    update_irq(vd);
  }
}

static uint64_t offered(virtio *vd) {
  uint64_t f = vd->ops->features(vd->dev);
  return vd->legacy ? (f & 0xffffffffull) : (f | VIRTIO_F_VERSION_1);
}

static void set_status(virtio *vd, uint32_t v) {
  if (v == 0) { device_reset(vd); return; }
  if ((v & S_FEATURES_OK) && !(vd->status & S_FEATURES_OK) && !vd->legacy) {
    /* The driver may only accept what we offered, and a modern device needs VERSION_1. */
    uint64_t off = offered(vd);
    if ((vd->driver_features & ~off) || !(vd->driver_features & VIRTIO_F_VERSION_1)) {
      log_warn(vd->ops->name, "driver accepted features 0x%llx not offered (0x%llx)",
               (unsigned long long)vd->driver_features, (unsigned long long)off);
      v &= ~(uint32_t)S_FEATURES_OK;
    }
  }
  int became_ok = (v & S_DRIVER_OK) && !(vd->status & S_DRIVER_OK);
  vd->status = (v & ~(uint32_t)S_NEEDS_RESET) | (vd->status & S_NEEDS_RESET);
  if (became_ok && !vd->broken && vd->ops->ready) vd->ops->ready(vd->dev, vd);
}

static uint64_t mmio_read(void *opaque, uint64_t off, int size) {
  virtio *vd = opaque;
  if (off >= R_CONFIG) {
    uint32_t coff = (uint32_t)(off - R_CONFIG);
    return vd->ops->config_read ? vd->ops->config_read(vd->dev, coff, size) : 0;
  }
  if (size != 4) return 0;
  vq *q = vd->queue_sel < VIRTIO_MAX_QUEUES ? &vd->q[vd->queue_sel] : NULL;
  int qok = q && (int)vd->queue_sel < vd->ops->nqueues;
  switch (off) {
  case R_MAGIC: return VIRTIO_MAGIC;
  case R_VERSION: return vd->legacy ? 1 : 2;
  case R_DEVICE_ID: return vd->ops->id;
  case R_VENDOR_ID: return VIRTIO_VENDOR;
  case R_DEV_FEATURES:
    if (vd->dev_features_sel > 1) return 0;
    return (uint32_t)(offered(vd) >> (32 * vd->dev_features_sel));
  case R_QUEUE_NUM_MAX: return qok ? VIRTIO_QUEUE_MAX : 0;
  case R_QUEUE_READY: return qok && !vd->legacy ? (uint32_t)q->ready : 0;
  case R_QUEUE_PFN: return qok && vd->legacy ? q->pfn : 0;
  case R_INT_STATUS: return vd->isr;
  case R_STATUS: return vd->status;
  case R_CONFIG_GEN: return vd->legacy ? 0 : vd->config_gen;
  default: return 0;
  }
}

static void set_lo(uint64_t *a, uint32_t v) { *a = (*a & ~0xffffffffull) | v; }
static void set_hi(uint64_t *a, uint32_t v) { *a = (*a & 0xffffffffull) | (uint64_t)v << 32; }

static void mmio_write(void *opaque, uint64_t off, uint64_t val64, int size) {
  virtio *vd = opaque;
  uint32_t val = (uint32_t)val64;
  if (off >= R_CONFIG) {
    if (vd->ops->config_write) vd->ops->config_write(vd->dev, (uint32_t)(off - R_CONFIG), val, size);
    return;
  }
  if (size != 4) return;
  vq *q = vd->queue_sel < VIRTIO_MAX_QUEUES && (int)vd->queue_sel < vd->ops->nqueues
              ? &vd->q[vd->queue_sel] : NULL;
  switch (off) {
  case R_DEV_FEATURES_SEL: vd->dev_features_sel = val; break;
  case R_DRV_FEATURES:
    if (vd->drv_features_sel == 0) set_lo(&vd->driver_features, val);
    else if (vd->drv_features_sel == 1 && !vd->legacy) set_hi(&vd->driver_features, val);
    if (vd->legacy) vd->driver_features &= offered(vd);
    break;
  case R_DRV_FEATURES_SEL: vd->drv_features_sel = val; break;
  case R_GUEST_PAGE_SIZE: if (vd->legacy) vd->guest_page_size = val; break;
  case R_QUEUE_SEL: vd->queue_sel = val; break;
  case R_QUEUE_NUM: if (q && !q->ready) q->num = val; break;
  case R_QUEUE_ALIGN: if (vd->legacy) vd->queue_align = val; break;
  case R_QUEUE_PFN: if (q && vd->legacy) legacy_set_pfn(vd, q, (int)vd->queue_sel, val); break;
  case R_QUEUE_READY:
    if (!q || vd->legacy) break;
    if (val & 1) { if (!q->ready) queue_map(vd, q, (int)vd->queue_sel); }
    else q->ready = 0;
    break;
  case R_QUEUE_NOTIFY:
    if (val < (uint32_t)vd->ops->nqueues && virtio_driver_ok(vd) && vd->q[val].ready)
      vd->ops->notify(vd->dev, vd, (int)val);
    break;
  case R_INT_ACK:
    vd->isr &= ~val;
    update_irq(vd);
    break;
  case R_STATUS: set_status(vd, val); break;
  case R_QUEUE_DESC_LO: if (q && !q->ready) set_lo(&q->desc, val); break;
  case R_QUEUE_DESC_HI: if (q && !q->ready) set_hi(&q->desc, val); break;
  case R_QUEUE_AVAIL_LO: if (q && !q->ready) set_lo(&q->avail, val); break;
  case R_QUEUE_AVAIL_HI: if (q && !q->ready) set_hi(&q->avail, val); break;
  case R_QUEUE_USED_LO: if (q && !q->ready) set_lo(&q->used, val); break;
  case R_QUEUE_USED_HI: if (q && !q->ready) set_hi(&q->used, val); break;
  default: break;
  }
}

const bus_dev_ops virtio_mmio_ops = {mmio_read, mmio_write};

virtio *virtio_new(bus *b, const virtio_device_ops *ops, void *dev, const virtio_hooks *h,
                   int legacy) {
  virtio *vd = calloc(1, sizeof *vd);
  if (!vd) return NULL;
  vd->bus = b;
  vd->ops = ops;
  vd->dev = dev;
  if (h) vd->hooks = *h;
  vd->legacy = legacy;
  return vd;
}

void virtio_free(virtio *vd) { free(vd); }
void virtio_reset(virtio *vd) { device_reset(vd); }

/* ---- virtqueues ---- */

static vq *usable(virtio *vd, int qi) {
  if (qi < 0 || qi >= vd->ops->nqueues || !virtio_driver_ok(vd)) return NULL;
  vq *q = &vd->q[qi];
  return q->ready ? q : NULL;
}

int vq_has_buffers(virtio *vd, int qi) {
  vq *q = usable(vd, qi);
  return q && ld16(q->havail + 2) != q->last_avail;
}

int vq_pop(virtio *vd, int qi, vq_chain *c) {
  vq *q = usable(vd, qi);
  if (!q) return 0;
  uint16_t avail_idx = ld16(q->havail + 2);
  if (avail_idx == q->last_avail) return 0;
  if ((uint16_t)(avail_idx - q->last_avail) > q->num) {
    virtio_fail(vd, "queue %d: avail index %u is %u ahead of the device (queue size %u)", qi,
                avail_idx, (uint16_t)(avail_idx - q->last_avail), q->num);
    return -1;
  }
  uint16_t head = ld16(q->havail + 4 + 2 * (q->last_avail % q->num));
  if (head >= q->num) {
    virtio_fail(vd, "queue %d: head descriptor %u out of range (size %u)", qi, head, q->num);
    return -1;
  }
  c->bus = vd->bus;
  c->head = head;
  c->nout = c->nin = 0;
  c->out_len = c->in_len = 0;
  uint16_t i = head;
  for (uint32_t steps = 0;; steps++) {
    if (steps >= q->num || c->nout + c->nin >= VIRTIO_MAX_SEGS) {
      virtio_fail(vd, "queue %d: descriptor chain from %u loops or is longer than %d", qi, head,
                  steps >= q->num ? (int)q->num : VIRTIO_MAX_SEGS);
      return -1;
    }
    const uint8_t *d = q->hdesc + 16u * i;
    uint64_t addr = ld64(d);
    uint32_t len = ld32(d + 8);
    uint16_t flags = ld16(d + 12), next = ld16(d + 14);
    if (flags & D_INDIRECT) {
      virtio_fail(vd, "queue %d: indirect descriptor, a feature never offered", qi);
      return -1;
    }
    uint8_t *p = len ? bus_ram_ptr(vd->bus, addr, len) : NULL;
    if (len && !p) {
      virtio_fail(vd, "queue %d: descriptor %u: buffer 0x%llx+%u is not in guest RAM", qi, i,
                  (unsigned long long)addr, len);
      return -1;
    }
    int n = c->nout + c->nin;
    if (flags & D_WRITE) {
      c->seg[n].p = p;
      c->seg[n].pa = addr;
      c->seg[n].len = len;
      c->nin++;
      c->in_len += len;
    } else {
      if (c->nin) {
        virtio_fail(vd, "queue %d: readable descriptor %u after a writable one", qi, i);
        return -1;
      }
      c->seg[n].p = p;
      c->seg[n].pa = addr;
      c->seg[n].len = len;
      c->nout++;
      c->out_len += len;
    }
    if (!(flags & D_NEXT)) break;
    if (next >= q->num) {
      virtio_fail(vd, "queue %d: next descriptor %u out of range (size %u)", qi, next, q->num);
      return -1;
    }
    i = next;
  }
  q->last_avail++;
  return 1;
}

void vq_unpop(virtio *vd, int qi, int n) {
  if (qi >= 0 && qi < vd->ops->nqueues) vd->q[qi].last_avail -= (uint16_t)n;
}

void vq_push(virtio *vd, int qi, const vq_chain *c, uint32_t written) {
  vq *q = usable(vd, qi);
  if (!q) return;
  uint8_t *e = q->hused + 4 + 8 * (q->used_idx % q->num);
  st32(e, c->head);
  st32(e + 4, written);
  q->used_idx++;
  st16(q->hused + 2, q->used_idx);
}

void vq_notify(virtio *vd, int qi) {
  vq *q = usable(vd, qi);
  if (!q) return;
  if (ld16(q->havail) & AVAIL_F_NO_INTERRUPT) return;
  vd->isr |= INT_USED;
  update_irq(vd);
}

static size_t chain_copy(const vq_chain *c, int first, int count, size_t off, uint8_t *buf,
                         size_t len, int to_chain) {
  size_t done = 0;
  for (int i = first; i < first + count && done < len; i++) {
    uint32_t sl = c->seg[i].len;
    if (off >= sl) { off -= sl; continue; }
    size_t n = sl - off;
    if (n > len - done) n = len - done;
    if (to_chain) {
      memcpy(c->seg[i].p + off, buf + done, n);
      bus_dma_written(c->bus, c->seg[i].pa + off, n);   /* the guest may execute what it reads */
    } else memcpy(buf + done, c->seg[i].p + off, n);
    done += n;
    off = 0;
  }
  return done;
}

size_t vq_chain_read(const vq_chain *c, size_t off, void *dst, size_t len) {
  return chain_copy(c, 0, c->nout, off, dst, len, 0);
}

size_t vq_chain_write(const vq_chain *c, size_t off, const void *src, size_t len) {
  return chain_copy(c, c->nout, c->nin, off, (uint8_t *)src, len, 1);
}
