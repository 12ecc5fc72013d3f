/* virtio_pci: the virtio PCI transport as QEMU 7.2 builds a transitional device on the root bus —
 * IDs 1af4:1000 + (net 0, blk 1, rng 5) with the virtio device id as subsystem id, revision 0;
 * BAR0 the legacy I/O register file (what U-Boot drives), BAR1 the MSI-X table and PBA, BAR4 a
 * 64-bit prefetchable 16 KiB region with the modern common, ISR, device and notify structures that
 * vendor capabilities point at (what Linux drives), plus the PCI_CFG window capability. Interrupts
 * are INTx with the ISR; MSI-X is there for the IDs and layout, but this board has no MSI
 * controller, so a guest that enables it gets no interrupts (Linux never does: no msi-parent). */
#ifndef LEMU_VIRTIO_PCI_H
#define LEMU_VIRTIO_PCI_H

#include "bus.h"
#include "pci.h"
#include "virtio.h"

typedef struct virtio_pci virtio_pci;

/* A device model behind a virtio PCI function; sys is the address space its queues live in. NULL
 * if the model has no PCI identity here (see virtio_pci.c) or memory ran out. Plug
 * virtio_pci_dev(t) into a bus; DMA waits for the driver to enable bus mastering. */
virtio_pci *virtio_pci_new(bus *sys, const virtio_device_ops *ops, void *dev);
void virtio_pci_free(virtio_pci *t);   /* unplug first (free the bus) */
pci_dev *virtio_pci_dev(virtio_pci *t);
virtio *virtio_pci_virtio(virtio_pci *t);

#endif
