/* mvirtio: virtio devices plugged into the virt board's virtio-mmio slots. A slot without a device
 * answers as QEMU's empty transports do; plugging fills slots from the highest address down, as
 * QEMU does, so the first device is the one Linux probes first. */
#include <stdio.h>

#include "machine_int.h"

static uint64_t slot_read(void *dev, uint64_t off, int size) {
  mslot *s = dev;
  return s->vd ? virtio_mmio_ops.read(s->vd, off, size) : virtio_slot_ops.read(NULL, off, size);
}

static void slot_write(void *dev, uint64_t off, uint64_t val, int size) {
  mslot *s = dev;
  if (s->vd) virtio_mmio_ops.write(s->vd, off, val, size);
}

const bus_dev_ops mslot_ops = {slot_read, slot_write};

static void slot_irq(void *ud, int level) {
  mslot *s = ud;
  if (s->m->plic) plic_set_irq(s->m->plic, VIRTIO_SLOT_IRQ + s->index, level);
}

int machine_add_virtio(machine *m, const virtio_device_ops *ops, void *dev,
                       void (*dev_free)(void *dev), int legacy, virtio **out, char *err,
                       size_t errlen) {
  if (m->spike) {
    snprintf(err, errlen, "the spike board has no virtio-mmio slots (use -M virt)");
    return -1;
  }
  if (m->state != MACHINE_CREATED) {
    snprintf(err, errlen, "%s: devices are plugged before the machine starts "
                          "(lemu.machine{start=false}, then m:start())", ops->name);
    return -1;
  }
  for (int i = VIRTIO_SLOTS - 1; i >= 0; i--) {
    mslot *s = &m->slots[i];
    if (s->vd) continue;
    virtio_hooks h = {s, slot_irq};
    s->vd = virtio_new(m->bus, ops, dev, &h, legacy);
    if (!s->vd) { snprintf(err, errlen, "out of memory"); return -1; }
    s->dev = dev;
    s->ops = ops;
    s->dev_free = dev_free;
    if (out) *out = s->vd;
    return i;
  }
  snprintf(err, errlen, "%s: all %d virtio-mmio slots are taken", ops->name, VIRTIO_SLOTS);
  return -1;
}

void *machine_virtio_dev(machine *m, int slot, const virtio_device_ops **ops) {
  if (slot < 0 || slot >= VIRTIO_SLOTS || !m->slots[slot].vd) return NULL;
  if (ops) *ops = m->slots[slot].ops;
  return m->slots[slot].dev;
}

void mvirtio_init(machine *m) {
  for (int i = 0; i < VIRTIO_SLOTS; i++) {
    m->slots[i].m = m;
    m->slots[i].index = i;
    bus_add_mmio(m->bus, VIRTIO_SLOT_BASE + (uint64_t)i * VIRTIO_SLOT_SIZE, VIRTIO_SLOT_SIZE,
                 &mslot_ops, &m->slots[i], "virtio-mmio");
  }
}

void mvirtio_reset(machine *m) {
  for (int i = 0; i < VIRTIO_SLOTS; i++)
    if (m->slots[i].vd) virtio_reset(m->slots[i].vd);
}

void mvirtio_free(machine *m) {
  for (int i = 0; i < VIRTIO_SLOTS; i++) {
    mslot *s = &m->slots[i];
    if (!s->vd) continue;
    if (s->dev_free) s->dev_free(s->dev);
    virtio_free(s->vd);
    s->vd = NULL;
  }
}
