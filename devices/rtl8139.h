/* rtl8139: the Realtek RTL8139C+ fast ethernet card as QEMU 7.2 shows it (PCI 10ec:8139 revision
 * 0x20, driven by Linux's 8139cp): one register file behind an I/O and a memory BAR, the 93C46
 * EEPROM holding the MAC, the C+ descriptor rings, the internal PHY's MII registers, the tally
 * counter dump, and the classic C mode (four transmit slots, one receive ring buffer). Every
 * descriptor the guest hands it is checked (DMA only to RAM, walks bounded by the ring size, lengths
 * clamped to the buffers); a receive ring the driver has not refilled holds frames at the port
 * instead of dropping them. The board builds it through rtl8139_model alone. */
#ifndef LEMU_RTL8139_H
#define LEMU_RTL8139_H

#include "nic.h"

extern const nic_pci_model rtl8139_model;

#endif
