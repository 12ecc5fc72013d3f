/* virtio: feature negotiation, the device status protocol, the ISR, and split virtqueues with every
 * guest-supplied address checked — the part of a virtio device its transports share. */
#include "virtio.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum { D_NEXT = 1, D_WRITE = 2, D_INDIRECT = 4 };
enum { AVAIL_F_NO_INTERRUPT = 1 };

typedef struct vq {
  uint32_t num;
  int ready;
  uint64_t addr[3];                    /* guest-physical: VQ_DESC, VQ_AVAIL, VQ_USED */
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
  uint32_t status, isr, config_gen;
  uint64_t driver_features;
  int broken, irq_level;
  vq q[VIRTIO_MAX_QUEUES];
  log_limit warn;              /* a guest that breaks the device in a loop must not flood stderr */
};

static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t ld32(const uint8_t *p) { return ld16(p) | (uint32_t)ld16(p + 2) << 16; }
static uint64_t ld64(const uint8_t *p) { return ld32(p) | (uint64_t)ld32(p + 4) << 32; }
static void st16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void st32(uint8_t *p, uint32_t v) { st16(p, (uint16_t)v); st16(p + 2, (uint16_t)(v >> 16)); }

static void update_irq(virtio *vd) {
  int level = vd->isr != 0;
  if (level == vd->irq_level) return;
  vd->irq_level = level;
  if (vd->hooks.irq) vd->hooks.irq(vd->hooks.ud, level);
}

static uint8_t *dma(virtio *vd, uint64_t pa, uint64_t len, int write) {
  if (vd->hooks.dma) return vd->hooks.dma(vd->hooks.ud, pa, len, write);
  uint8_t *p = bus_ram_ptr(vd->bus, pa, len);
  if (p && write) bus_dma_written(vd->bus, pa, len);   /* the guest may execute what it reads */
  return p;
}

static vq *queue(virtio *vd, int q) {
  return q >= 0 && q < vd->ops->nqueues && q < VIRTIO_MAX_QUEUES ? &vd->q[q] : NULL;
}
static const vq *cqueue(const virtio *vd, int q) { return queue((virtio *)vd, q); }

/* Queues start at the largest size; a driver may choose a smaller one before enabling them. */
static void queues_reset(virtio *vd) {
  memset(vd->q, 0, sizeof vd->q);
  for (int i = 0; i < vd->ops->nqueues && i < VIRTIO_MAX_QUEUES; i++) vd->q[i].num = VIRTIO_QUEUE_MAX;
}

void virtio_reset(virtio *vd) {
  vd->status = 0;
  vd->isr = 0;
  vd->broken = 0;
  vd->driver_features = 0;
  queues_reset(vd);
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
  log_limited(&vd->warn, LOG_WARN, vd->ops->name, "guest driver error, device needs reset: %s", why);
  vd->broken = 1;
  /* DEVICE_NEEDS_RESET exists for 1.x drivers only; a legacy driver just sees a dead device. */
  if (!virtio_is_legacy(vd)) {
    vd->status |= VIRTIO_S_NEEDS_RESET;
    if (vd->status & VIRTIO_S_DRIVER_OK) {
      vd->isr |= VIRTIO_ISR_CONFIG;
      update_irq(vd);
    }
  }
  if (vd->ops->reset) vd->ops->reset(vd->dev);
}

/* Checks a queue's rings lie in RAM and caches their host addresses. */
static void queue_map(virtio *vd, vq *q, int index) {
  if (q->num == 0 || q->num > VIRTIO_QUEUE_MAX || (q->num & (q->num - 1))) {
    virtio_fail(vd, "queue %d: size %u is not a power of two up to %d", index, q->num,
                VIRTIO_QUEUE_MAX);
    return;
  }
  q->hdesc = bus_ram_ptr(vd->bus, q->addr[VQ_DESC], 16ull * q->num);
  q->havail = bus_ram_ptr(vd->bus, q->addr[VQ_AVAIL], 6ull + 2ull * q->num);
  q->hused = bus_ram_ptr(vd->bus, q->addr[VQ_USED], 6ull + 8ull * q->num);
  if (!q->hdesc || !q->havail || !q->hused) {
    virtio_fail(vd, "queue %d: rings at desc 0x%llx avail 0x%llx used 0x%llx are not in RAM", index,
                (unsigned long long)q->addr[VQ_DESC], (unsigned long long)q->addr[VQ_AVAIL],
                (unsigned long long)q->addr[VQ_USED]);
    return;
  }
  if ((q->addr[VQ_DESC] & 15) || (q->addr[VQ_AVAIL] & 1) || (q->addr[VQ_USED] & 3)) {
    virtio_fail(vd, "queue %d: misaligned rings", index);
    return;
  }
  q->ready = 1;
}

int virtio_driver_ok(const virtio *vd) { return (vd->status & VIRTIO_S_DRIVER_OK) && !vd->broken; }
uint64_t virtio_features(const virtio *vd) { return vd->driver_features; }
int virtio_is_legacy(const virtio *vd) { return !(vd->driver_features & VIRTIO_F_VERSION_1); }
const virtio_device_ops *virtio_ops(const virtio *vd) { return vd->ops; }
void *virtio_dev(const virtio *vd) { return vd->dev; }

void virtio_config_changed(virtio *vd) {
  vd->config_gen++;
  if (vd->status & VIRTIO_S_DRIVER_OK) {
    vd->isr |= VIRTIO_ISR_CONFIG;
    update_irq(vd);
  }
}

/* ---- what transports drive ---- */

uint64_t virtio_offered(const virtio *vd, int legacy) {
  uint64_t f = vd->ops->features(vd->dev);
  return legacy ? (f & 0xffffffffull) : (f | VIRTIO_F_VERSION_1);
}

void virtio_set_driver_features(virtio *vd, uint64_t f, int legacy) {
  vd->driver_features = legacy ? f & virtio_offered(vd, 1) : f;
}

uint32_t virtio_status(const virtio *vd) { return vd->status; }

void virtio_set_status(virtio *vd, uint32_t v) {
  if (v == 0) { virtio_reset(vd); return; }
  if ((v & VIRTIO_S_FEATURES_OK) && !(vd->status & VIRTIO_S_FEATURES_OK)) {
    /* The driver may only accept what we offered, and a 1.x device needs VERSION_1. */
    uint64_t off = virtio_offered(vd, 0);
    if ((vd->driver_features & ~off) || !(vd->driver_features & VIRTIO_F_VERSION_1)) {
      log_limited(&vd->warn, LOG_WARN, vd->ops->name, "driver accepted features 0x%llx not offered (0x%llx)",
               (unsigned long long)vd->driver_features, (unsigned long long)off);
      v &= ~(uint32_t)VIRTIO_S_FEATURES_OK;
    }
  }
  int became_ok = (v & VIRTIO_S_DRIVER_OK) && !(vd->status & VIRTIO_S_DRIVER_OK);
  vd->status = (v & ~(uint32_t)VIRTIO_S_NEEDS_RESET) | (vd->status & VIRTIO_S_NEEDS_RESET);
  if (became_ok && !vd->broken && vd->ops->ready) vd->ops->ready(vd->dev, vd);
}

uint32_t virtio_isr(const virtio *vd) { return vd->isr; }

void virtio_isr_ack(virtio *vd, uint32_t bits) {
  vd->isr &= ~bits;
  update_irq(vd);
}

uint32_t virtio_isr_take(virtio *vd) {
  uint32_t v = vd->isr;
  vd->isr = 0;
  update_irq(vd);
  return v;
}

uint32_t virtio_config_generation(const virtio *vd) { return vd->config_gen; }

uint32_t virtio_config_read(virtio *vd, uint32_t off, int size) {
  return vd->ops->config_read ? vd->ops->config_read(vd->dev, off, size) : 0;
}

void virtio_config_write(virtio *vd, uint32_t off, uint32_t val, int size) {
  if (vd->ops->config_write) vd->ops->config_write(vd->dev, off, val, size);
}

uint32_t virtio_queue_num(const virtio *vd, int q) {
  const vq *x = cqueue(vd, q);
  return x ? x->num : 0;
}

void virtio_queue_set_num(virtio *vd, int q, uint32_t num) {
  vq *x = queue(vd, q);
  if (x && !x->ready) x->num = num;
}

uint64_t virtio_queue_addr(const virtio *vd, int q, int which) {
  const vq *x = cqueue(vd, q);
  return x && which >= 0 && which < 3 ? x->addr[which] : 0;
}

void virtio_queue_set_addr(virtio *vd, int q, int which, uint64_t addr) {
  vq *x = queue(vd, q);
  if (x && !x->ready && which >= 0 && which < 3) x->addr[which] = addr;
}

int virtio_queue_enabled(const virtio *vd, int q) {
  const vq *x = cqueue(vd, q);
  return x && x->ready;
}

void virtio_queue_enable(virtio *vd, int q, int on) {
  vq *x = queue(vd, q);
  if (!x) return;
  if (!on) x->ready = 0;
  else if (!x->ready) queue_map(vd, x, q);
}

void virtio_queue_set_pfn(virtio *vd, int q, uint32_t pfn, uint32_t page_size, uint32_t align) {
  vq *x = queue(vd, q);
  if (!x) return;
  x->pfn = pfn;
  if (pfn == 0) { x->ready = 0; return; }
  uint64_t page = page_size ? page_size : 4096, al = align ? align : 4096;
  x->ready = 0;
  x->addr[VQ_DESC] = (uint64_t)pfn * page;
  x->addr[VQ_AVAIL] = x->addr[VQ_DESC] + 16ull * x->num;
  x->addr[VQ_USED] = (x->addr[VQ_AVAIL] + 6ull + 2ull * x->num + al - 1) & ~(al - 1);
  queue_map(vd, x, q);
}

uint32_t virtio_queue_pfn(const virtio *vd, int q) {
  const vq *x = cqueue(vd, q);
  return x ? x->pfn : 0;
}

void virtio_queue_kick(virtio *vd, int q) {
  vq *x = queue(vd, q);
  if (x && x->ready && virtio_driver_ok(vd)) vd->ops->notify(vd->dev, vd, q);
}

virtio *virtio_new(bus *b, const virtio_device_ops *ops, void *dev, const virtio_hooks *h) {
  virtio *vd = calloc(1, sizeof *vd);
  if (!vd) return NULL;
  vd->bus = b;
  vd->ops = ops;
  vd->dev = dev;
  if (h) vd->hooks = *h;
  queues_reset(vd);
  return vd;
}

void virtio_free(virtio *vd) {
  if (!vd) return;
  log_limited_flush(&vd->warn);
  free(vd);
}

/* ---- virtqueues ---- */

static vq *usable(virtio *vd, int qi) {
  vq *q = queue(vd, qi);
  if (!q || !q->ready || !virtio_driver_ok(vd)) return NULL;
  if (vd->hooks.dma_on && !vd->hooks.dma_on(vd->hooks.ud)) return NULL;
  return q;
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
    int w = (flags & D_WRITE) != 0;
    if (!w && c->nin) {
      virtio_fail(vd, "queue %d: readable descriptor %u after a writable one", qi, i);
      return -1;
    }
    uint8_t *p = len ? dma(vd, addr, len, w) : NULL;
    if (len && !p) {
      virtio_fail(vd, "queue %d: descriptor %u: buffer 0x%llx+%u is not in guest RAM", qi, i,
                  (unsigned long long)addr, len);
      return -1;
    }
    int n = c->nout + c->nin;
    c->seg[n].p = p;
    c->seg[n].pa = addr;
    c->seg[n].len = len;
    if (w) { c->nin++; c->in_len += len; }
    else { c->nout++; c->out_len += len; }
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
  vq *q = queue(vd, qi);
  if (q) q->last_avail -= (uint16_t)n;
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
  vd->isr |= VIRTIO_ISR_QUEUE;
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
    if (to_chain) memcpy(c->seg[i].p + off, buf + done, n);   /* reported when it was mapped */
    else memcpy(buf + done, c->seg[i].p + off, n);
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
