/* loader: puts guest images into a machine's RAM — ELF executables (PT_LOAD segments at their
 * physical addresses, with the HTIF tohost/fromhost symbols if defined), raw binaries and RISC-V
 * Linux Images, any of them gzip-compressed. Every error names the file and says why. */
#ifndef LEMU_LOADER_H
#define LEMU_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"

typedef struct loader_image {
  uint64_t entry;
  uint64_t low, high;         /* the loaded range [low, high) */
  uint64_t tohost, fromhost;  /* 0 if the ELF does not define them */
  int is_elf;
} loader_image;

/* Reads the whole file (gunzipped if compressed) into a malloc'ed buffer; NULL and err on failure. */
uint8_t *loader_read(const char *path, size_t *len, char *err, size_t errlen);

/* Loads path: an ELF for RISC-V 64 at its addresses, otherwise raw at raw_addr (a RISC-V Image
 * header, if present, gives the size the kernel needs). ram_base/ram_size bound what fits.
 * Returns 0, or -1 with err set. */
int loader_load(bus *b, const char *path, uint64_t raw_addr, uint64_t ram_base, uint64_t ram_size,
                loader_image *img, char *err, size_t errlen);

/* Loads path raw at addr (an initrd); *len receives its size. */
int loader_load_raw(bus *b, const char *path, uint64_t addr, uint64_t ram_base, uint64_t ram_size,
                    uint64_t *len, char *err, size_t errlen);

#endif
