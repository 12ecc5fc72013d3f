/* fuzz_loader: libFuzzer target for the image loader (board/loader.c): the input is a file given
 * as -kernel (ELF, raw, RISC-V Image, any of them gzip-compressed) and as -initrd, loaded into a
 * small RAM. Every image must load within RAM or be refused with a message, never overrun. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bus.h"
#include "loader.h"

#define RAM 0x80000000ull
#define RAMSZ 0x200000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("fuzz-image", 0);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size) return 0;
  bus *b = bus_new();
  bus_add_ram(b, RAM, RAMSZ, "ram");
  loader_image img;
  char err[256];
  if (loader_load(b, path, RAM + 0x100000, RAM, RAMSZ, &img, err, sizeof err) == 0 &&
      (img.low < RAM || img.high > RAM + RAMSZ || img.low > img.high))
    __builtin_trap();
  uint64_t len;
  (void)loader_load_raw(b, path, RAM + 0x180000, RAM, RAMSZ, &len, err, sizeof err);
  bus_free(b);
  return 0;
}
