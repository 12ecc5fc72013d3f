/* virtio_mmio: the virtio-mmio transport — version 2 (virtio 1.x: 64-bit features, separate ring
 * addresses, QueueReady, the config generation) or the legacy version 1 layout (GuestPageSize,
 * QueueAlign, QueuePFN, 32 feature bits) that QEMU's force-legacy selects — over a virtio core
 * (virtio.h). Its interrupt line is up while the ISR is non-zero. */
#ifndef LEMU_VIRTIO_MMIO_H
#define LEMU_VIRTIO_MMIO_H

#include "bus.h"
#include "virtio.h"

#define VIRTIO_MMIO_SIZE 0x1000

typedef struct virtio_mmio virtio_mmio;

/* A device model behind a virtio-mmio register file; irq(ud, level) is its interrupt line.
 * legacy: the version 1 layout. NULL if out of memory. */
virtio_mmio *virtio_mmio_new(bus *b, const virtio_device_ops *ops, void *dev,
                             void (*irq)(void *ud, int level), void *ud, int legacy);
void virtio_mmio_free(virtio_mmio *t);
/* What a machine reset does: the device and the transport's selectors back to 0. */
void virtio_mmio_reset(virtio_mmio *t);
virtio *virtio_mmio_virtio(virtio_mmio *t);
extern const bus_dev_ops virtio_mmio_ops;   /* dev = the virtio_mmio */

#endif
