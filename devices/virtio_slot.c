/* virtio_slot: the registers an empty slot answers; writes are ignored. */
#include "virtio_slot.h"

static uint64_t vs_read(void *dev, uint64_t off, int size) {
  (void)dev; (void)size;
  switch (off) {
  case 0x000: return 0x74726976;   /* "virt" */
  case 0x004: return 1;            /* legacy transport, QEMU 7.2's default */
  case 0x008: return 0;            /* no device */
  case 0x00c: return 0x554d4551;   /* vendor "QEMU" */
  }
  return 0;
}

static void vs_write(void *dev, uint64_t off, uint64_t val, int size) {
  (void)dev; (void)off; (void)val; (void)size;
}

const bus_dev_ops virtio_slot_ops = {vs_read, vs_write};
