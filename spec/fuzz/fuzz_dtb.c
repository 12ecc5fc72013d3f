/* fuzz_dtb: libFuzzer target for the -dtb input (board/mfdt.c): any file given as -dtb to a virt
 * machine, which checks its header, opens it and rewrites /chosen with the command line and the
 * initrd, as QEMU does, then places it in RAM. The input's first byte picks whether there is an
 * -append, a kernel and initrd, and lemu's built-in SBI (which keeps room after the tree); the rest
 * is the file. Every tree must be taken or refused with a message naming -dtb, never overrun. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "machine.h"
#include "rt.h"

static int memfd(const char *name, char path[64]) {
  int fd = memfd_create(name, 0);
  if (fd < 0) abort();
  snprintf(path, 64, "/proc/self/fd/%d", fd);
  return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int dtb = -1, kern = -1;
  static char dtbpath[64], kernpath[64];
  if (dtb < 0) {
    dtb = memfd("fuzz-dtb", dtbpath);
    kern = memfd("fuzz-kernel", kernpath);
    static const uint8_t wfi_loop[] = {0x73, 0x00, 0x50, 0x10, 0x6f, 0xf0, 0xdf, 0xff};
    if (write(kern, wfi_loop, sizeof wfi_loop) != sizeof wfi_loop) abort();
  }
  if (size < 1) return 0;
  uint8_t sel = data[0];
  if (ftruncate(dtb, 0) < 0 || pwrite(dtb, data + 1, size - 1, 0) != (ssize_t)(size - 1)) abort();
  const char *err0;
  lemu_rt *rt = lemu_rt_new(&err0);
  if (!rt) abort();
  machine_config cfg = {0};
  cfg.type = "virt";
  /* As little RAM as each case needs (zeroing it is most of an input's time): 2 MiB, 4 MiB for
   * a kernel at 0x80200000, 8 MiB for the initrd QEMU places half of RAM above it. */
  cfg.ram_size = (sel & 2) ? 8u << 20 : (sel & 4) ? 4u << 20 : 2u << 20;
  cfg.smp = 1;
  cfg.bios = (sel & 4) ? NULL : "none";
  cfg.dtb = dtbpath;
  if (sel & 1) cfg.append = "console=ttyS0 earlycon root=/dev/vda ro";
  if (sel & 6) cfg.kernel = kernpath;          /* the built-in SBI needs a kernel to start */
  if (sel & 2) cfg.initrd = kernpath;
  machine_hooks h = {0};
  char err[512];
  machine *m = machine_new(rt, &cfg, &h, err, sizeof err);
  if (m) {
    size_t len;
    const uint8_t *f = machine_dtb(m, &len);
    uint64_t at = machine_dtb_addr(m);
    if (!f || len < 40 || at < 0x80000000ull || at + len > 0x80000000ull + cfg.ram_size) __builtin_trap();
    machine_close(m);
  } else if (!strstr(err, "-dtb") || strlen(err) < 8) {
    fprintf(stderr, "fuzz_dtb: refused without naming -dtb: %s\n", err);
    __builtin_trap();
  }
  lemu_rt_free(rt);
  return 0;
}
