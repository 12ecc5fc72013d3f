/* mfdt: the machine's flattened device tree, built with libfdt's sequential writer in the shape
 * QEMU's virt board generates (node names, compatibles, phandles, interrupt wiring), or taken from
 * a -dtb file with /chosen updated. Nodes for hardware lemu does not model yet (fw_cfg, flash,
 * platform bus, PMU) are left out, so no driver probes a device that is not there. */
#include "machine_int.h"

#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "clock.h"
#include "virtio_slot.h"

#define ISA "rv64imafdc_zicsr_zifencei_zihintpause_zba_zbb_zbc_zbs_sstc"

/* Property helpers: big-endian cells. */
static int cells(void *f, const char *name, const uint32_t *v, int n) {
  fdt32_t b[4 * MACHINE_MAX_HARTS];
  for (int i = 0; i < n; i++) b[i] = cpu_to_fdt32(v[i]);
  return fdt_property(f, name, b, (int)(n * sizeof(fdt32_t)));
}

static int reg2(void *f, uint64_t base, uint64_t size) {
  uint32_t v[4] = {(uint32_t)(base >> 32), (uint32_t)base, (uint32_t)(size >> 32), (uint32_t)size};
  return cells(f, "reg", v, 4);
}

static int strs(void *f, const char *name, const char *const *list) {
  char buf[256];
  size_t n = 0;
  for (; *list; list++) {
    size_t l = strlen(*list) + 1;
    if (n + l > sizeof buf) return -FDT_ERR_NOSPACE;
    memcpy(buf + n, *list, l);
    n += l;
  }
  return fdt_property(f, name, buf, (int)n);
}

static int begin(void *f, const char *fmt, uint64_t addr) {
  char name[64];
  snprintf(name, sizeof name, fmt, (unsigned long long)addr);
  return fdt_begin_node(f, name);
}

enum { PH_PLIC = 1, PH_TEST = 2, PH_CPU = 16 };  /* cpu h: PH_CPU + 2h, its intc: + 1 */

/* The PCIe host, as QEMU's create_fdt_pcie makes it; properties in the order of QEMU's dumped tree
 * (it adds each one in front of the others, so they come out in reverse of its code). */
static int pcie_node(machine *m, void *f) {
  int e;
#define T(x) do { if ((e = (x)) < 0) return e; } while (0)
  T(begin(f, "pci@%llx", VIRT_PCIE_ECAM));
  T(cells(f, "interrupt-map-mask", (const uint32_t[]){0x1800, 0, 0, 7}, 4));
  /* Slots 0..3 (the mask folds the others onto them), pins INTA..INTD: PCI address, pin, the
   * PLIC and its source after the swizzle. */
  uint32_t map[4 * 4 * 6];
  int n = 0;
  for (int slot = 0; slot < 4; slot++)
    for (int pin = 1; pin <= 4; pin++) {
      map[n++] = (uint32_t)slot << 11;
      map[n++] = 0;
      map[n++] = 0;
      map[n++] = (uint32_t)pin;
      map[n++] = PH_PLIC;
      map[n++] = (uint32_t)(VIRT_PCIE_IRQ + pci_swizzle(slot, pin));
    }
  T(cells(f, "interrupt-map", map, n));
  uint64_t hi = m->pci_high;
  const uint32_t ranges[] = {
    0x01000000, 0, 0, 0, (uint32_t)VIRT_PCIE_PIO, 0, (uint32_t)VIRT_PCIE_PIO_SIZE,
    0x02000000, 0, (uint32_t)VIRT_PCIE_MMIO, 0, (uint32_t)VIRT_PCIE_MMIO, 0,
    (uint32_t)VIRT_PCIE_MMIO_SIZE,
    0x03000000, (uint32_t)(hi >> 32), (uint32_t)hi, (uint32_t)(hi >> 32), (uint32_t)hi,
    (uint32_t)(VIRT_PCIE_MMIO_HIGH_SIZE >> 32), (uint32_t)VIRT_PCIE_MMIO_HIGH_SIZE,
  };
  T(cells(f, "ranges", ranges, (int)(sizeof ranges / sizeof ranges[0])));
  T(reg2(f, VIRT_PCIE_ECAM, VIRT_PCIE_ECAM_SIZE));
  T(fdt_property(f, "dma-coherent", NULL, 0));
  T(cells(f, "bus-range", (const uint32_t[]){0, 0xff}, 2));
  T(fdt_property_u32(f, "linux,pci-domain", 0));
  T(fdt_property_string(f, "device_type", "pci"));
  T(fdt_property_string(f, "compatible", "pci-host-ecam-generic"));
  T(fdt_property_u32(f, "#size-cells", 2));
  T(fdt_property_u32(f, "#interrupt-cells", 1));
  T(fdt_property_u32(f, "#address-cells", 3));
  T(fdt_end_node(f));
#undef T
  return 0;
}

static int build(machine *m, void *f, int size) {
  int e = 0, n = m->nharts;
#define T(x) do { if ((e = (x)) < 0) return e; } while (0)
  T(fdt_create(f, size));
  T(fdt_finish_reservemap(f));
  T(fdt_begin_node(f, ""));
  T(fdt_property_u32(f, "#address-cells", 2));
  T(fdt_property_u32(f, "#size-cells", 2));
  if (m->spike) {
    T(fdt_property_string(f, "compatible", "ucbbar,spike-bare-dev"));
    T(fdt_property_string(f, "model", "ucbbar,spike-bare,qemu"));
  } else {
    T(fdt_property_string(f, "compatible", "riscv-virtio"));
    T(fdt_property_string(f, "model", "riscv-virtio,qemu"));
  }

  T(fdt_begin_node(f, "chosen"));
  if (m->append) T(fdt_property_string(f, "bootargs", m->append));
  if (!m->spike) T(fdt_property_string(f, "stdout-path", "/soc/serial@10000000"));
  if (m->initrd_end) {
    T(fdt_property_u64(f, "linux,initrd-start", m->initrd_start));
    T(fdt_property_u64(f, "linux,initrd-end", m->initrd_end));
  }
  /* As QEMU: 32 bytes from the host's entropy, so the kernel's RNG is seeded at once (without it
   * a guest with no virtio-rng waits for entropy it may never get); from the runtime's seed when
   * one is set, so a seeded run repeats itself. */
  uint8_t seed[32];
  int have = 1;
  if (clock_seeded(m->rt))
    for (int i = 0; i < 4; i++) {
      uint64_t v = clock_seed(m->rt, "rng-seed");
      memcpy(seed + 8 * i, &v, 8);
    }
  else have = getrandom(seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed;
  if (have) T(fdt_property(f, "rng-seed", seed, sizeof seed));
  T(fdt_end_node(f));

  if (!m->spike) {
    T(fdt_begin_node(f, "poweroff"));
    T(fdt_property_u32(f, "value", 0x5555));
    T(fdt_property_u32(f, "offset", 0));
    T(fdt_property_u32(f, "regmap", PH_TEST));
    T(fdt_property_string(f, "compatible", "syscon-poweroff"));
    T(fdt_end_node(f));
    T(fdt_begin_node(f, "reboot"));
    T(fdt_property_u32(f, "value", 0x7777));
    T(fdt_property_u32(f, "offset", 0));
    T(fdt_property_u32(f, "regmap", PH_TEST));
    T(fdt_property_string(f, "compatible", "syscon-reboot"));
    T(fdt_end_node(f));
  }

  T(begin(f, "memory@%llx", VIRT_DRAM));
  T(fdt_property_string(f, "device_type", "memory"));
  T(reg2(f, VIRT_DRAM, m->cfg.ram_size));
  T(fdt_end_node(f));

  T(fdt_begin_node(f, "cpus"));
  T(fdt_property_u32(f, "#address-cells", 1));
  T(fdt_property_u32(f, "#size-cells", 0));
  T(fdt_property_u32(f, "timebase-frequency", (uint32_t)CLINT_TIMEBASE_HZ));
  for (int i = 0; i < n; i++) {
    T(begin(f, "cpu@%llx", (uint64_t)i));
    T(fdt_property_u32(f, "phandle", PH_CPU + 2 * i));
    T(fdt_property_string(f, "device_type", "cpu"));
    T(fdt_property_u32(f, "reg", (uint32_t)i));
    T(fdt_property_string(f, "status", "okay"));
    T(fdt_property_string(f, "compatible", "riscv"));
    T(fdt_property_string(f, "riscv,isa", ISA));
    T(fdt_property_string(f, "mmu-type", "riscv,sv48"));
    T(fdt_begin_node(f, "interrupt-controller"));
    T(fdt_property_u32(f, "#interrupt-cells", 1));
    T(fdt_property(f, "interrupt-controller", NULL, 0));
    T(fdt_property_string(f, "compatible", "riscv,cpu-intc"));
    T(fdt_property_u32(f, "phandle", PH_CPU + 2 * i + 1));
    T(fdt_end_node(f));
    T(fdt_end_node(f));
  }
  T(fdt_begin_node(f, "cpu-map"));
  T(fdt_begin_node(f, "cluster0"));
  for (int i = 0; i < n; i++) {
    T(begin(f, "core%llu", (uint64_t)i));
    T(fdt_property_u32(f, "cpu", PH_CPU + 2 * i));
    T(fdt_end_node(f));
  }
  T(fdt_end_node(f));
  T(fdt_end_node(f));
  T(fdt_end_node(f));  /* cpus */

  T(fdt_begin_node(f, "soc"));
  T(fdt_property_u32(f, "#address-cells", 2));
  T(fdt_property_u32(f, "#size-cells", 2));
  T(fdt_property_string(f, "compatible", "simple-bus"));
  T(fdt_property(f, "ranges", NULL, 0));

  uint32_t ie[4 * MACHINE_MAX_HARTS];
  if (!m->spike) {
    T(begin(f, "rtc@%llx", VIRT_RTC));
    T(fdt_property_u32(f, "interrupts", VIRT_RTC_IRQ));
    T(fdt_property_u32(f, "interrupt-parent", PH_PLIC));
    T(reg2(f, VIRT_RTC, GOLDFISH_RTC_SIZE));
    T(fdt_property_string(f, "compatible", "google,goldfish-rtc"));
    T(fdt_end_node(f));

    T(begin(f, "serial@%llx", VIRT_UART0));
    T(fdt_property_u32(f, "interrupts", VIRT_UART0_IRQ));
    T(fdt_property_u32(f, "interrupt-parent", PH_PLIC));
    T(fdt_property_u32(f, "clock-frequency", 3686400));
    T(reg2(f, VIRT_UART0, UART_SIZE));
    T(fdt_property_string(f, "compatible", "ns16550a"));
    T(fdt_end_node(f));

    T(begin(f, "test@%llx", VIRT_TEST));
    T(fdt_property_u32(f, "phandle", PH_TEST));
    T(reg2(f, VIRT_TEST, SIFIVE_TEST_SIZE));
    static const char *const test_compat[] = {"sifive,test1", "sifive,test0", "syscon", NULL};
    T(strs(f, "compatible", test_compat));
    T(fdt_end_node(f));

    T(pcie_node(m, f));

    /* QEMU emits the slots from the last to the first. */
    for (int i = VIRTIO_SLOTS - 1; i >= 0; i--) {
      uint64_t base = VIRTIO_SLOT_BASE + (uint64_t)i * VIRTIO_SLOT_SIZE;
      T(begin(f, "virtio_mmio@%llx", base));
      T(fdt_property_u32(f, "interrupts", VIRTIO_SLOT_IRQ + i));
      T(fdt_property_u32(f, "interrupt-parent", PH_PLIC));
      T(reg2(f, base, VIRTIO_SLOT_SIZE));
      T(fdt_property_string(f, "compatible", "virtio,mmio"));
      T(fdt_end_node(f));
    }

    T(begin(f, "plic@%llx", VIRT_PLIC));
    T(fdt_property_u32(f, "phandle", PH_PLIC));
    T(fdt_property_u32(f, "riscv,ndev", PLIC_SOURCES));
    T(reg2(f, VIRT_PLIC, PLIC_SIZE));
    for (int i = 0; i < n; i++) {
      ie[4 * i + 0] = PH_CPU + 2 * i + 1; ie[4 * i + 1] = 11;   /* M external */
      ie[4 * i + 2] = PH_CPU + 2 * i + 1; ie[4 * i + 3] = 9;    /* S external */
    }
    T(cells(f, "interrupts-extended", ie, 4 * n));
    T(fdt_property(f, "interrupt-controller", NULL, 0));
    static const char *const plic_compat[] = {"sifive,plic-1.0.0", "riscv,plic0", NULL};
    T(strs(f, "compatible", plic_compat));
    T(fdt_property_u32(f, "#address-cells", 0));
    T(fdt_property_u32(f, "#interrupt-cells", 1));
    T(fdt_end_node(f));
  }

  T(begin(f, "clint@%llx", VIRT_CLINT));
  for (int i = 0; i < n; i++) {
    ie[4 * i + 0] = PH_CPU + 2 * i + 1; ie[4 * i + 1] = 3;      /* M software */
    ie[4 * i + 2] = PH_CPU + 2 * i + 1; ie[4 * i + 3] = 7;      /* M timer */
  }
  T(cells(f, "interrupts-extended", ie, 4 * n));
  T(reg2(f, VIRT_CLINT, CLINT_SIZE));
  static const char *const clint_compat[] = {"sifive,clint0", "riscv,clint0", NULL};
  T(strs(f, "compatible", clint_compat));
  T(fdt_end_node(f));

  if (m->spike && m->tohost) {
    T(fdt_begin_node(f, "htif"));
    T(fdt_property_string(f, "compatible", "ucb,htif0"));
    T(fdt_end_node(f));
  }
  T(fdt_end_node(f));  /* soc */
  T(fdt_end_node(f));  /* root */
  T(fdt_finish(f));
#undef T
  return 0;
}

/* With the built-in SBI the kernel gets the tree as lemu made it, not as OpenSBI passes it on:
 * OpenSBI opens the tree with room to spare for its fixups, and S-mode payloads rely on that room.
 * U-Boot keeps a copy of exactly the tree's total size and edits it in place at booti (fdt_high=~0:
 * "we assume there is space after the existing fdt"), overwriting its own global data when the
 * tree is packed. So with the built-in SBI the tree carries FDT_ROOM bytes of free space; with a
 * firmware it stays packed, as QEMU gives it. Takes ownership of f; sets m->fdt, m->fdt_len. */
#define FDT_ROOM 4096
static int install(machine *m, void *f) {
  if (m->builtin_sbi) {
    int size = (int)fdt_totalsize(f) + FDT_ROOM;
    void *g = realloc(f, (size_t)size);
    if (!g) { free(f); return -FDT_ERR_NOSPACE; }
    f = g;
    int e = fdt_open_into(f, f, size);
    if (e < 0) { free(f); return e; }
  }
  m->fdt = f;
  m->fdt_len = fdt_totalsize(f);
  return 0;
}

/* Walks the structure block tag by tag, bounded by its size: every node name ends inside it and
 * every property's value fits in it. Debian 12's libfdt (1.6.1) adds a property's length to the
 * offset unchecked, so a length near 2^32 steps backwards and fdt_check_full walks forever (fixed
 * upstream in 1.7.0, "prevent integer overflow in fdt_next_tag"); this runs before any libfdt walk.
 * Each step moves forwards at least one tag, so it ends within size/4 steps. Versions before 16
 * (refused by from_file) would need their own rules: values aligned to 8, full paths as names. */
static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int struct_bounded(const uint8_t *d) {
  /* Version 16's header has no structure size: libfdt bounds it by the whole tree. */
  uint32_t size = fdt_version(d) >= 17 ? fdt_size_dt_struct(d)
                                       : fdt_totalsize(d) - fdt_off_dt_struct(d);
  const uint8_t *s = d + fdt_off_dt_struct(d);
  for (uint32_t off = 0; off + 4 <= size;) {
    uint32_t tag = be32(s + off);
    off += 4;
    switch (tag) {
    case FDT_BEGIN_NODE: {
      const uint8_t *nul = memchr(s + off, 0, size - off);
      if (!nul) return 0;
      off = (uint32_t)(nul - s) + 1;
      break;
    }
    case FDT_PROP: {
      if (size - off < 8) return 0;
      uint32_t len = be32(s + off);
      off += 8;
      if (len > size - off) return 0;
      off += len;
      break;
    }
    case FDT_END: return 1;
    case FDT_END_NODE: case FDT_NOP: break;
    default: return 0;
    }
    off = (off + 3) & ~3u;
  }
  return 0;
}

/* A -dtb file: QEMU keeps it and rewrites /chosen with the command line and the initrd. */
static int from_file(machine *m, char *err, size_t errlen) {
  size_t len;
  uint8_t *d = loader_read(m->dtbfile, &len, err, errlen);
  if (!d) return machine_err_option("-dtb", err, errlen);
  if (len < sizeof(struct fdt_header) || fdt_check_header(d) != 0 || fdt_totalsize(d) > len) {
    snprintf(err, errlen, "-dtb %s: not a flattened device tree (bad header)", m->dtbfile);
    free(d);
    return -1;
  }
  /* libfdt 1.6.1 walks trees older than version 16 on paths that crash on bad input:
   * fdt_check_full reads through the NULL that fdt_get_name returns for a root without '/'. dtc
   * has written version 17 since 2007; nothing for a RISC-V board has ever been that old. */
  if (fdt_version(d) < 16) {
    snprintf(err, errlen, "-dtb %s: device tree version %u is too old (lemu reads versions 16 and "
             "17)", m->dtbfile, fdt_version(d));
    free(d);
    return -1;
  }
  /* libfdt's header check leaves the blocks' layout to trust: a memory reservation map that runs
   * into the structure block sends fdt_open_into's move a negative length. The blocks must be
   * aligned (the reservations to 8, the structure to 4, as libfdt 1.8.0 checks), come in dtc's
   * order without overlapping, and the structure must walk (struct_bounded, then fdt_check_full). */
  int nrsv = fdt_num_mem_rsv(d);
  uint64_t rsv_end = fdt_off_mem_rsvmap(d) + 16ull * ((uint64_t)(nrsv < 0 ? 0 : nrsv) + 1);
  if (nrsv < 0 || fdt_off_mem_rsvmap(d) % 8 || fdt_off_dt_struct(d) % 4 ||
      rsv_end > fdt_off_dt_struct(d) ||
      (uint64_t)fdt_off_dt_struct(d) + fdt_size_dt_struct(d) > fdt_off_dt_strings(d) ||
      (uint64_t)fdt_off_dt_strings(d) + fdt_size_dt_strings(d) > fdt_totalsize(d) ||
      !struct_bounded(d) || fdt_check_full(d, fdt_totalsize(d)) != 0) {
    snprintf(err, errlen, "-dtb %s: not a flattened device tree (blocks overlap, are misaligned, "
                          "out of order or do not parse)", m->dtbfile);
    free(d);
    return -1;
  }
  int size = (int)fdt_totalsize(d) + 4096 + (m->append ? (int)strlen(m->append) : 0);
  void *f = malloc((size_t)size);
  int e = f ? fdt_open_into(d, f, size) : -FDT_ERR_NOSPACE;
  free(d);
  int ch = e < 0 ? e : fdt_path_offset(f, "/chosen");
  if (ch == -FDT_ERR_NOTFOUND) ch = fdt_add_subnode(f, 0, "chosen");
  if (ch >= 0 && m->append) e = fdt_setprop_string(f, ch, "bootargs", m->append);
  if (ch >= 0 && e >= 0 && m->initrd_end) {
    e = fdt_setprop_u64(f, ch, "linux,initrd-start", m->initrd_start);
    if (e >= 0) e = fdt_setprop_u64(f, ch, "linux,initrd-end", m->initrd_end);
  }
  if (ch < 0 || e < 0) {
    snprintf(err, errlen, "-dtb %s: %s", m->dtbfile, fdt_strerror(ch < 0 ? ch : e));
    free(f);
    return -1;
  }
  fdt_pack(f);
  e = install(m, f);
  if (e < 0) {
    snprintf(err, errlen, "-dtb %s: %s", m->dtbfile, fdt_strerror(e));
    return -1;
  }
  return 0;
}

int mfdt_build(machine *m, char *err, size_t errlen) {
  if (m->dtbfile) return from_file(m, err, errlen);
  for (int size = 16384; size <= (1 << 20); size *= 2) {
    void *f = calloc(1, (size_t)size);
    if (!f) break;
    int e = build(m, f, size);
    if (e == 0) {
      if (install(m, f) == 0) return 0;
      break;                                   /* no memory for the free space */
    }
    free(f);
    if (e != -FDT_ERR_NOSPACE) {
      snprintf(err, errlen, "building the device tree: %s", fdt_strerror(e));
      return -1;
    }
  }
  snprintf(err, errlen, "building the device tree: out of memory");
  return -1;
}
