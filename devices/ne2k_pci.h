/* ne2k_pci: the NE2000-compatible Realtek RTL8029 as QEMU 7.2's ne2k_pci shows it (PCI 10ec:8029,
 * revision 0, subsystem 1af4:1100, INTA, one I/O BAR of 256 bytes, no capabilities, no option ROM):
 * a DP8390 with its register pages 0-3, the reset port, 48 KiB of card memory (the station-address
 * PROM at 0, packet RAM at 0x4000-0xc000) reached by remote DMA through the data port, the receive
 * ring and transmit from packet RAM. Every pointer the guest writes is checked the way QEMU's CVE
 * fixes check it, or stricter; refusals are counted. A full receive ring holds frames at the port
 * (backpressure) where QEMU drops them; a stopped card drops them as QEMU does. The card has no
 * link register: its driver always sees carrier, and the NIC base drops frames while the link is
 * down. The registry builds it through ne2k_pci_model alone. */
#ifndef LEMU_NE2K_PCI_H
#define LEMU_NE2K_PCI_H

#include "nic.h"

extern const nic_pci_model ne2k_pci_model;

#endif
