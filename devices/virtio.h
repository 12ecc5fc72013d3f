/* virtio: the device side of virtio apart from its transports — feature negotiation, the device
 * status protocol, the ISR, device configuration and split virtqueues — shared by virtio-net,
 * virtio-blk and virtio-rng, and driven by the virtio-mmio (virtio_mmio.h) and virtio-pci
 * (virtio_pci.h) register files.
 *
 * A guest is untrusted: every descriptor address and length is checked against guest RAM (through
 * the transport's DMA hook), chains are bounded by the queue size, and ring indices are checked
 * against the queue size. A violation marks the device broken (DEVICE_NEEDS_RESET, as virtio 1.x
 * specifies), logs why, and the device processes nothing more until the driver resets it. */
#ifndef LEMU_VIRTIO_H
#define LEMU_VIRTIO_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"

#define VIRTIO_QUEUE_MAX 256           /* the queue size we offer */
#define VIRTIO_MAX_QUEUES 4
#define VIRTIO_MAX_SEGS 64             /* segments gathered per chain; longer chains are refused */

enum {
  VIRTIO_ID_NET = 1, VIRTIO_ID_BLOCK = 2, VIRTIO_ID_RNG = 4,
};

#define VIRTIO_F_VERSION_1 (1ull << 32)

enum {
  VIRTIO_S_ACKNOWLEDGE = 1, VIRTIO_S_DRIVER = 2, VIRTIO_S_DRIVER_OK = 4, VIRTIO_S_FEATURES_OK = 8,
  VIRTIO_S_NEEDS_RESET = 0x40, VIRTIO_S_FAILED = 0x80,
};
enum { VIRTIO_ISR_QUEUE = 1, VIRTIO_ISR_CONFIG = 2 };

typedef struct virtio virtio;

/* A chain popped from the available ring: readable segments first (out: driver -> device), then
 * writable ones (in: device -> driver), as host pointers into guest RAM. */
typedef struct vq_chain {
  uint16_t head;
  int nout, nin;
  struct { uint8_t *p; uint64_t pa; uint32_t len; } seg[VIRTIO_MAX_SEGS];
  uint32_t out_len, in_len;            /* total bytes of each kind */
} vq_chain;

/* What a device model provides; dev is the model's own state. */
typedef struct virtio_device_ops {
  const char *name;
  uint32_t id;
  int nqueues;
  uint64_t (*features)(void *dev);
  /* Config space reads and writes (off within the device config, size 1/2/4). */
  uint32_t (*config_read)(void *dev, uint32_t off, int size);
  void (*config_write)(void *dev, uint32_t off, uint32_t val, int size);
  /* The driver made buffers available on queue q. */
  void (*notify)(void *dev, virtio *vd, int q);
  /* The driver reset the device (status 0) or the device broke: drop in-flight state. */
  void (*reset)(void *dev);
  /* DRIVER_OK was set: the device may start using its queues. May be NULL. */
  void (*ready)(void *dev, virtio *vd);
} virtio_device_ops;

/* What the transport gives the core. */
typedef struct virtio_hooks {
  void *ud;
  /* The ISR went from zero to non-zero or back. */
  void (*irq)(void *ud, int level);
  /* DMA: the host pointer for guest RAM [pa, pa+len), or NULL; write: the device is about to write
   * it (the hook tells the CPU's code cache). NULL: the bus directly (bus_ram_ptr). */
  uint8_t *(*dma)(void *ud, uint64_t pa, uint64_t len, int write);
  /* Whether the device may reach memory now (PCI bus mastering); NULL: always. While it may not,
   * queues look empty and nothing is written. */
  int (*dma_on)(void *ud);
} virtio_hooks;

virtio *virtio_new(bus *b, const virtio_device_ops *ops, void *dev, const virtio_hooks *h);
void virtio_free(virtio *vd);
/* What a driver's write of 0 to the status does. */
void virtio_reset(virtio *vd);
const virtio_device_ops *virtio_ops(const virtio *vd);
void *virtio_dev(const virtio *vd);

/* ---- for device models ---- */

/* Queue access. vq_pop returns 1 with a chain, 0 if the ring is empty (or the queue is not ready,
 * the device broken or its DMA off), -1 if the driver handed a bad chain (device broken). */
int vq_pop(virtio *vd, int q, vq_chain *c);
/* Puts back the last n chains popped and not pushed (a frame that did not fit after all). */
void vq_unpop(virtio *vd, int q, int n);
/* Returns a chain to the used ring with the number of bytes written into it. */
void vq_push(virtio *vd, int q, const vq_chain *c, uint32_t written);
/* Interrupts the driver for used buffers on q, unless it asked for none. */
void vq_notify(virtio *vd, int q);
/* Whether queue q has buffers available now. */
int vq_has_buffers(virtio *vd, int q);
int virtio_driver_ok(const virtio *vd);
uint64_t virtio_features(const virtio *vd);   /* negotiated */
/* The driver did not negotiate VIRTIO_F_VERSION_1 (a pre-1.0 driver: legacy header layouts). */
int virtio_is_legacy(const virtio *vd);
/* The device's configuration changed (e.g. link status): tell the driver. */
void virtio_config_changed(virtio *vd);
/* Marks the device broken with a logged reason. */
void virtio_fail(virtio *vd, const char *why, ...) __attribute__((format(printf, 2, 3)));

/* Copies between a chain's segments and a flat buffer, from byte off of the readable (out) or the
 * writable (in) part. Return bytes copied. */
size_t vq_chain_read(const vq_chain *c, size_t off, void *dst, size_t len);
size_t vq_chain_write(const vq_chain *c, size_t off, const void *src, size_t len);

/* ---- for transports ---- */

/* Features offered through a legacy interface (the low 32 bits) or a modern one (with VERSION_1). */
uint64_t virtio_offered(const virtio *vd, int legacy);
/* The driver's feature bits: through a legacy interface masked to what was offered; through a
 * modern one kept as written and checked when the driver sets FEATURES_OK. */
void virtio_set_driver_features(virtio *vd, uint64_t f, int legacy);
uint32_t virtio_status(const virtio *vd);
void virtio_set_status(virtio *vd, uint32_t v);    /* 0 resets the device */
uint32_t virtio_isr(const virtio *vd);
void virtio_isr_ack(virtio *vd, uint32_t bits);    /* virtio-mmio's InterruptACK */
uint32_t virtio_isr_take(virtio *vd);              /* virtio-pci's ISR: read and clear */
uint32_t virtio_config_generation(const virtio *vd);
uint32_t virtio_config_read(virtio *vd, uint32_t off, int size);
void virtio_config_write(virtio *vd, uint32_t off, uint32_t val, int size);

/* Queue q's configuration (q < the model's nqueues; others read 0 and ignore writes). The size
 * starts at VIRTIO_QUEUE_MAX; it and the ring addresses change only while the queue is not
 * enabled. */
enum { VQ_DESC, VQ_AVAIL, VQ_USED };
uint32_t virtio_queue_num(const virtio *vd, int q);
void virtio_queue_set_num(virtio *vd, int q, uint32_t num);
uint64_t virtio_queue_addr(const virtio *vd, int q, int which);
void virtio_queue_set_addr(virtio *vd, int q, int which, uint64_t addr);
int virtio_queue_enabled(const virtio *vd, int q);
/* Enables queue q after checking its size and rings (a bad one breaks the device), or disables it. */
void virtio_queue_enable(virtio *vd, int q, int on);
/* The legacy layout: rings from one page frame (descriptors, then the available ring, then the used
 * ring at the next align boundary) for the queue's size (the maximum unless set). pfn 0 disables. */
void virtio_queue_set_pfn(virtio *vd, int q, uint32_t pfn, uint32_t page_size, uint32_t align);
uint32_t virtio_queue_pfn(const virtio *vd, int q);
/* The driver notified queue q. */
void virtio_queue_kick(virtio *vd, int q);

#endif
