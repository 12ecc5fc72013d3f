/* pci: conventional PCI functions and the root bus of an ECAM host bridge. A function is a
 * type-0 configuration space of 256 bytes with per-byte writable and write-1-to-clear masks, up to
 * six BARs (I/O, 32- or 64-bit memory) sized by the masks, a capability list and one INTx pin.
 * The bus decodes ECAM configuration accesses and the I/O and memory windows: an access goes to
 * the BAR that decodes it now (the command register's I/O and memory bits gate them), anything else
 * reads all-ones and drops writes, as on QEMU's gpex; an 8-byte access reaches a BAR as two 4-byte
 * ones, low half first. INTx pins are swizzled onto the host's four
 * lines, level-triggered and wired-OR. Device DMA goes through pci_dma_map, which refuses it while
 * the function's bus mastering is off. */
#ifndef LEMU_PCI_H
#define LEMU_PCI_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"

#define PCI_CONFIG_SIZE 256
#define PCI_DEVFNS 256
#define PCI_SLOT(devfn) ((devfn) >> 3)
#define PCI_FUNC(devfn) ((devfn) & 7)
#define PCI_NUM_BARS 6

/* Configuration registers. */
enum {
  PCI_VENDOR_ID = 0x00, PCI_DEVICE_ID = 0x02, PCI_COMMAND = 0x04, PCI_STATUS = 0x06,
  PCI_REVISION_ID = 0x08, PCI_CLASS_PROG = 0x09, PCI_CACHE_LINE_SIZE = 0x0c,
  PCI_LATENCY_TIMER = 0x0d, PCI_HEADER_TYPE = 0x0e, PCI_BAR0 = 0x10, PCI_SUBSYSTEM_VENDOR_ID = 0x2c,
  PCI_SUBSYSTEM_ID = 0x2e, PCI_ROM_ADDRESS = 0x30, PCI_CAPABILITY_LIST = 0x34,
  PCI_INTERRUPT_LINE = 0x3c, PCI_INTERRUPT_PIN = 0x3d,
};
enum {
  PCI_COMMAND_IO = 0x1, PCI_COMMAND_MEMORY = 0x2, PCI_COMMAND_MASTER = 0x4,
  PCI_COMMAND_SERR = 0x100, PCI_COMMAND_INTX_DISABLE = 0x400,
};
enum {
  PCI_STATUS_INTERRUPT = 0x08, PCI_STATUS_CAP_LIST = 0x10, PCI_STATUS_PARITY = 0x100,
  PCI_STATUS_SIG_TARGET_ABORT = 0x800, PCI_STATUS_REC_TARGET_ABORT = 0x1000,
  PCI_STATUS_REC_MASTER_ABORT = 0x2000, PCI_STATUS_SIG_SYSTEM_ERROR = 0x4000,
  PCI_STATUS_DETECTED_PARITY = 0x8000,
};
/* BAR type bits (the low bits of the register). */
enum { PCI_BAR_MEM32 = 0x0, PCI_BAR_IO = 0x1, PCI_BAR_MEM64 = 0x4, PCI_BAR_PREFETCH = 0x8 };
enum { PCI_CAP_ID_MSIX = 0x11, PCI_CAP_ID_VNDR = 0x09 };

#define PCI_BAR_UNMAPPED UINT64_MAX

typedef struct pci_bus pci_bus;
typedef struct pci_dev pci_dev;

/* What a function's owner may hook. All may be NULL. */
typedef struct pci_dev_ops {
  /* After a configuration write has been applied through the masks (off and size as the driver
   * wrote them): lets the device react (MSI-X enable, bus mastering turned off, a window cap). */
  void (*config_written)(pci_dev *d, uint32_t off, uint32_t val, int size);
  /* Before a configuration read is answered (a cap whose data mirrors device registers). */
  void (*config_reading)(pci_dev *d, uint32_t off, int size);
  /* The function was reset (configuration space already back to its reset values). */
  void (*reset)(pci_dev *d);
} pci_dev_ops;

typedef struct pci_bar {
  uint64_t size;                /* 0: no BAR here (or the high half of a 64-bit one) */
  uint8_t type;                 /* PCI_BAR_IO, or PCI_BAR_MEM32/MEM64 | PCI_BAR_PREFETCH */
  const bus_dev_ops *ops;       /* off relative to the BAR's base */
  void *opaque;
} pci_bar;

/* Identity of a function, as its header shows it. */
typedef struct pci_id {
  uint16_t vendor, device;
  uint8_t revision;
  uint32_t class_code;          /* base class, subclass, programming interface: 0x020000 */
  uint16_t subvendor, subdevice;
  uint8_t pin;                  /* 1..4 = INTA..INTD, 0: no interrupt */
} pci_id;

/* A function. Owners embed it and set it up with pci_dev_init; the fields are the device
 * model's to read, and its to write only through the functions below. */
struct pci_dev {
  uint8_t cfg[PCI_CONFIG_SIZE], wmask[PCI_CONFIG_SIZE], w1cmask[PCI_CONFIG_SIZE];
  uint8_t capmap[PCI_CONFIG_SIZE / 8];  /* bytes that capabilities occupy */
  pci_bar bar[PCI_NUM_BARS];
  const pci_dev_ops *ops;
  void *owner;
  const char *name;
  pci_bus *bus;                 /* set while plugged */
  int devfn;
  int intx;                     /* the device's own INTx level (before INTX_DISABLE) */
};

void pci_dev_init(pci_dev *d, const pci_id *id, const pci_dev_ops *ops, void *owner,
                  const char *name);
/* Declares BAR i of a power-of-two size (I/O at least 4 bytes, memory at least 16); a 64-bit BAR
 * takes i and i+1. Returns 0, or -1 for a bad index, size or overlap with another BAR. Call before
 * plugging. */
int pci_register_bar(pci_dev *d, int i, uint8_t type, uint64_t size, const bus_dev_ops *ops,
                     void *opaque);
/* Adds a capability of len bytes at the first free place from 0x40, linked at the head of the list
 * (so the list runs newest first) and read-only; returns its offset, or -1 if there is no room. */
int pci_add_capability(pci_dev *d, uint8_t id, int len);
/* Makes n bytes at off writable by the driver (a capability's writable fields). */
void pci_set_wmask(pci_dev *d, uint32_t off, int n, uint8_t mask);

/* Configuration accesses as a driver makes them (size 1, 2 or 4; off + size <= 256). */
uint32_t pci_config_read(pci_dev *d, uint32_t off, int size);
void pci_config_write(pci_dev *d, uint32_t off, uint32_t val, int size);

/* Raw little-endian access for the device model itself (no masks). */
static inline uint32_t pci_get(const pci_dev *d, uint32_t off, int size) {
  uint32_t v = 0;
  for (int i = 0; i < size; i++) v |= (uint32_t)d->cfg[off + (uint32_t)i] << (8 * i);
  return v;
}
static inline void pci_put(pci_dev *d, uint32_t off, uint32_t val, int size) {
  for (int i = 0; i < size; i++) d->cfg[off + (uint32_t)i] = (uint8_t)(val >> (8 * i));
}

/* Where BAR i decodes now: its base, or PCI_BAR_UNMAPPED (no BAR, decoding disabled in the command
 * register, still being sized, or past what its type can address). */
uint64_t pci_bar_addr(const pci_dev *d, int i);
/* Sets the device's INTx level; the bus sees it unless the command register disables INTx. */
void pci_set_irq(pci_dev *d, int level);
int pci_bus_master(const pci_dev *d);
/* Back to the reset state: command, status, BARs, line; deasserts INTx; then ops->reset. */
void pci_dev_reset(pci_dev *d);

/* Device DMA: the host pointer for guest RAM [pa, pa+len), or NULL if d's bus mastering is off or
 * the range is not wholly inside RAM. write: the device is about to write the range, which is
 * reported to the bus's code-write hook now (the CPU drops code it decoded there). */
uint8_t *pci_dma_map(pci_dev *d, uint64_t pa, uint64_t len, int write);
int pci_dma_read(pci_dev *d, uint64_t pa, void *dst, uint64_t len);          /* 0 or -1 */
int pci_dma_write(pci_dev *d, uint64_t pa, const void *src, uint64_t len);   /* 0 or -1 */

/* ---- the root bus ---- */

typedef struct pci_bus_hooks {
  void *ud;
  /* Host interrupt line 0..3 (INTA..INTD after the swizzle) goes up or down. */
  void (*intx)(void *ud, int line, int level);
} pci_bus_hooks;

/* sys: the address space device DMA reaches (guest RAM). */
pci_bus *pci_bus_new(bus *sys, const pci_bus_hooks *h);
void pci_bus_free(pci_bus *pb);    /* the functions belong to their owners */
/* Plugs d at devfn, or at the first free slot (function 0, from slot 0 up) if devfn < 0; returns
 * the devfn or -1 if it is taken, out of range, or the bus is full. */
int pci_bus_plug(pci_bus *pb, pci_dev *d, int devfn);
pci_dev *pci_bus_dev(pci_bus *pb, int devfn);
void pci_bus_reset(pci_bus *pb);
/* Host line that INTx pin (1..4) of a slot reaches: (slot + pin - 1) mod 4, QEMU's swizzle. */
int pci_swizzle(int slot, int pin);
/* The level of host line 0..3. */
int pci_bus_line(const pci_bus *pb, int line);

/* ECAM: offset bus << 20 | devfn << 12 | register. Only bus 0 exists. dev = the pci_bus. */
extern const bus_dev_ops pci_ecam_ops;

/* A window of the host bridge: CPU accesses at offset off reach PCI address base + off in I/O or
 * memory space. dev = a pci_window. */
typedef struct pci_window { pci_bus *pb; uint64_t base; int io; } pci_window;
extern const bus_dev_ops pci_window_ops;

#endif
