/* virtio_slot: an empty virtio-mmio transport, as QEMU's virt board shows its eight slots at
 * 0x10001000 + i*0x1000 (IRQ 1 + i) before a device is plugged in: the magic value, version 1 and
 * device id 0 (no device), so drivers skip it. The virtio issue replaces a slot with a device. */
#ifndef LEMU_VIRTIO_SLOT_H
#define LEMU_VIRTIO_SLOT_H

#include "bus.h"

#define VIRTIO_SLOTS 8
#define VIRTIO_SLOT_BASE 0x10001000ull
#define VIRTIO_SLOT_SIZE 0x1000
#define VIRTIO_SLOT_IRQ 1

extern const bus_dev_ops virtio_slot_ops;   /* dev is unused */

#endif
