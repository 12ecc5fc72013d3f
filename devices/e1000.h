/* e1000: the Intel 82540EM gigabit network card as QEMU 7.2 models it (-device e1000, PCI
 * 8086:100e rev 3, subsystem 1af4:1100, INTA, no capabilities). BAR0 is the 128 KiB register
 * file, BAR1 a 64-byte I/O window that reads 0 and ignores writes (as QEMU's does; Linux issues
 * its reset there). The card owns its EEPROM (Microwire through EECD, and EERD), an M88 PHY at
 * MDIO address 1 with a 500 ms auto-negotiation on guest time, its interrupt causes, and the
 * legacy descriptor rings: receive with filtering, FCS length and VLAN stripping; transmit with
 * context descriptors, IP/TCP/UDP checksum insertion, TSO and VLAN insertion.
 *
 * Every address, length, index and header offset the guest gives is checked: rings are walked at
 * most once round per doorbell, DMA goes through pci_dma_* (RAM only, bus mastering on), the
 * transmit assembly buffer is bounded, and refusals are counted (e1000_model.counters). A full
 * receive ring, or receive not enabled yet, holds frames at the port (backpressure) instead of
 * dropping them. */
#ifndef LEMU_E1000_H
#define LEMU_E1000_H

#include "nic.h"

extern const nic_pci_model e1000_model;

#endif
