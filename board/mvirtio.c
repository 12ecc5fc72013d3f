/* mvirtio: virtio device models in the virt board's virtio-mmio slots — each gets a transport
 * (devices/virtio.c) plugged with machine_virtio_slot and its PLIC line. Slots fill from the
 * highest address down, as QEMU fills them, so the first device is the one Linux probes first.
 * The machine owns the models: reset with it, freed with it. */
#include <stdio.h>

#include "machine_int.h"

static void vdev_irq(void *ud, int level) {
  mvdev *d = ud;
  machine_set_irq_line(d->m, VIRTIO_SLOT_IRQ + d->index, level);
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
    mvdev *d = &m->vdevs[i];
    if (d->vd || m->slots[i].dev) continue;
    d->m = m;
    d->index = i;
    virtio_hooks h = {d, vdev_irq};
    d->vd = virtio_new(m->bus, ops, dev, &h, legacy);
    if (!d->vd) { snprintf(err, errlen, "out of memory"); return -1; }
    d->ops = ops;
    d->dev = dev;
    d->dev_free = dev_free;
    machine_virtio_slot(m, i, &virtio_mmio_ops, d->vd);
    if (out) *out = d->vd;
    return i;
  }
  snprintf(err, errlen, "%s: all %d virtio-mmio slots are taken", ops->name, VIRTIO_SLOTS);
  return -1;
}

void *machine_virtio_dev(machine *m, int slot, const virtio_device_ops **ops) {
  if (slot < 0 || slot >= VIRTIO_SLOTS || !m->vdevs[slot].vd) return NULL;
  if (ops) *ops = m->vdevs[slot].ops;
  return m->vdevs[slot].dev;
}

void mvirtio_reset(machine *m) {
  for (int i = 0; i < VIRTIO_SLOTS; i++)
    if (m->vdevs[i].vd) virtio_reset(m->vdevs[i].vd);
}

void mvirtio_free(machine *m) {
  for (int i = 0; i < VIRTIO_SLOTS; i++) {
    mvdev *d = &m->vdevs[i];
    if (!d->vd) continue;
    if (d->dev_free) d->dev_free(d->dev);
    virtio_free(d->vd);
    d->vd = NULL;
  }
}
