/* virtio: the virtio-mmio transport (version 2, and legacy version 1 as QEMU's force-legacy) and
 * split virtqueues, shared by virtio-net, virtio-blk and virtio-rng.
 *
 * A guest is untrusted: every descriptor address and length is checked against guest RAM through
 * bus_ram_ptr, chains are bounded by the queue size, and ring indices are checked against the
 * queue size. A violation marks the device broken (DEVICE_NEEDS_RESET, as virtio 1.x specifies),
 * logs why, and the device processes nothing more until the driver resets it. */
#ifndef LEMU_VIRTIO_H
#define LEMU_VIRTIO_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"

#define VIRTIO_MMIO_SIZE 0x1000
#define VIRTIO_QUEUE_MAX 256           /* QueueNumMax we offer */
#define VIRTIO_MAX_QUEUES 4
#define VIRTIO_MAX_SEGS 64             /* segments gathered per chain; longer chains are refused */

enum {
  VIRTIO_ID_NET = 1, VIRTIO_ID_BLOCK = 2, VIRTIO_ID_RNG = 4,
};

#define VIRTIO_F_VERSION_1 (1ull << 32)

typedef struct virtio virtio;

/* A chain popped from the available ring: readable segments first (out: driver -> device), then
 * writable ones (in: device -> driver), as host pointers into guest RAM. */
typedef struct vq_chain {
  bus *bus;
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

typedef struct virtio_hooks {
  void *ud;
  void (*irq)(void *ud, int level);
} virtio_hooks;

/* legacy: offer the version 1 (pre-1.0) register layout instead of version 2. */
virtio *virtio_new(bus *b, const virtio_device_ops *ops, void *dev, const virtio_hooks *h,
                   int legacy);
void virtio_free(virtio *vd);
/* What a driver's write of 0 to Status does: used by machine reset. */
void virtio_reset(virtio *vd);
extern const bus_dev_ops virtio_mmio_ops;   /* dev = the virtio * */

/* Queue access for device models. vq_pop returns 1 with a chain, 0 if the ring is empty (or the
 * queue is not ready or the device broken), -1 if the driver handed a bad chain (device broken). */
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
int virtio_is_legacy(const virtio *vd);
/* The device's configuration changed (e.g. link status): tell the driver. */
void virtio_config_changed(virtio *vd);
/* Marks the device broken with a logged reason. */
void virtio_fail(virtio *vd, const char *why, ...) __attribute__((format(printf, 2, 3)));

/* Copies between a chain's segments and a flat buffer, from byte off of the readable (out) or the
 * writable (in) part. Return bytes copied. */
size_t vq_chain_read(const vq_chain *c, size_t off, void *dst, size_t len);
size_t vq_chain_write(const vq_chain *c, size_t off, const void *src, size_t len);

#endif
