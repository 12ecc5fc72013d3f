/* bus: a machine's guest-physical address space — RAM regions with host backing, and MMIO regions
 * served by devices. The CPU, the loaders and device DMA all go through it. Accesses outside every
 * region fail (the CPU turns that into an access fault); DMA asks for a host pointer only when the
 * whole range lies in one RAM region, which is how devices check what an untrusted guest hands
 * them. */
#ifndef LEMU_BUS_H
#define LEMU_BUS_H

#include <stddef.h>
#include <stdint.h>

typedef struct bus bus;

typedef struct bus_dev_ops {
  /* off is relative to the region base; size is 1, 2, 4 or 8 and off is size-aligned unless the
   * region says it accepts unaligned accesses. A read of an unimplemented register returns 0. */
  uint64_t (*read)(void *dev, uint64_t off, int size);
  void (*write)(void *dev, uint64_t off, uint64_t val, int size);
} bus_dev_ops;

bus *bus_new(void);
void bus_free(bus *b);      /* frees RAM; devices belong to their owners */

/* Adds zeroed RAM; returns its host memory or NULL (overlap, no memory). */
uint8_t *bus_add_ram(bus *b, uint64_t base, uint64_t size, const char *name);
/* Adds an MMIO region; returns 0 or -1 if it overlaps another region. */
int bus_add_mmio(bus *b, uint64_t base, uint64_t size, const bus_dev_ops *ops, void *dev,
                 const char *name);

/* Host pointer for [pa, pa+len) if it lies entirely inside one RAM region, else NULL. */
uint8_t *bus_ram_ptr(bus *b, uint64_t pa, uint64_t len);
/* Whole-range copies for loaders and DMA; -1 if any byte is outside RAM. */
int bus_ram_read(bus *b, uint64_t pa, void *dst, uint64_t len);
int bus_ram_write(bus *b, uint64_t pa, const void *src, uint64_t len);

/* A single access of size 1/2/4/8 bytes (RAM or MMIO); -1 if nothing is mapped there. */
int bus_read(bus *b, uint64_t pa, int size, uint64_t *val);
int bus_write(bus *b, uint64_t pa, int size, uint64_t val);

/* Called whenever RAM in [pa, pa+len) is written by something other than the CPU's own stores
 * (DMA, loaders), so decoded-instruction caches can drop stale code. Set by the CPU layer. */
/* A device wrote guest RAM through a bus_ram_ptr pointer (DMA): lets the hook above see it. */
void bus_dma_written(bus *b, uint64_t pa, uint64_t len);
void bus_set_code_write_hook(bus *b, void (*fn)(void *ud, uint64_t pa, uint64_t len), void *ud);

#endif
