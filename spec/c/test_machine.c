/* The machine through its C interface, as an embedder or a device layer uses it: running a guest
 * to its exit with console output through the hooks, and plugging a device into a virtio slot. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libfdt.h>

#include "ctest.h"
#include "machine.h"
#include "pci.h"
#include "rt.h"

typedef struct { char out[1024]; size_t n; int exited, status; } env;

static void on_console(void *ud, const uint8_t *b, size_t n) {
  env *e = ud;
  if (e->n + n < sizeof e->out) { memcpy(e->out + e->n, b, n); e->n += n; }
}
static void on_exit_(void *ud, int status) { env *e = ud; e->exited = 1; e->status = status; }
static int exited(void *ud) { return ((env *)ud)->exited; }

TEST(machine_runs_a_guest_to_its_exit) {
  const char *err0;
  lemu_rt *rt = lemu_rt_new(&err0);
  env e = {0};
  machine_config cfg = {.bios = "none", .kernel = "guest/board/fail.elf"};
  machine_hooks h = {&e, on_console, on_exit_, NULL};
  char err[512];
  machine *m = machine_new(rt, &cfg, &h, err, sizeof err);
  CHECK(m != NULL);
  if (!m) { lemu_rt_free(rt); return; }
  CHECK_EQ(machine_state(m), MACHINE_CREATED);
  machine_start(m);
  CHECK_EQ(lemu_rt_run(rt, exited, &e), LEMU_RUN_DONE);
  CHECK_EQ(e.status, 42);
  CHECK_EQ(machine_state(m), MACHINE_EXITED);
  CHECK(e.n == 16 && memcmp(e.out, "failing with 42\n", 16) == 0);
  machine_close(m);
  lemu_rt_free(rt);
}

static uint64_t fake_read(void *dev, uint64_t off, int size) {
  (void)size;
  return off == 8 ? 1 : *(uint32_t *)dev;   /* device id 1: a network card */
}
static void fake_write(void *dev, uint64_t off, uint64_t val, int size) {
  (void)off; (void)size;
  *(uint32_t *)dev = (uint32_t)val;
}

TEST(machine_virtio_slots_take_a_device) {
  const char *err0;
  lemu_rt *rt = lemu_rt_new(&err0);
  machine_config cfg = {.bios = "none"};
  char err[512];
  machine *m = machine_new(rt, &cfg, NULL, err, sizeof err);
  CHECK(m != NULL);
  if (!m) { lemu_rt_free(rt); return; }
  bus *b = machine_bus(m);
  uint64_t v = 0;
  CHECK_EQ(bus_read(b, 0x10001000, 4, &v), 0);
  CHECK_EQ(v, 0x74726976);
  bus_read(b, 0x10003008, 4, &v);
  CHECK_EQ(v, 0);                                  /* empty slot: no device */
  static const bus_dev_ops fake = {fake_read, fake_write};
  uint32_t reg = 0;
  CHECK_EQ(machine_virtio_slot(m, 2, &fake, &reg), 0);
  bus_read(b, 0x10003008, 4, &v);
  CHECK_EQ(v, 1);
  bus_write(b, 0x10003070, 4, 0xabcd);
  CHECK_EQ(reg, 0xabcd);
  CHECK_EQ(machine_virtio_slot(m, 2, NULL, NULL), 0);
  bus_read(b, 0x10003008, 4, &v);
  CHECK_EQ(v, 0);
  CHECK_EQ(machine_virtio_slot(m, 8, &fake, &reg), -1);
  CHECK_EQ(machine_set_irq_line(m, 3, 1), 0);
  CHECK_EQ(machine_set_irq_line(m, 3, 0), 0);
  CHECK_EQ(machine_set_irq_line(m, 0, 1), -1);
  CHECK_EQ(machine_set_irq_line(m, 97, 1), -1);
  machine_close(m);
  lemu_rt_free(rt);
}

/* The virt board's PCIe host at QEMU's addresses: the host bridge at 00:00.0 in ECAM, all ones for
 * empty slots and unmapped window addresses, and a device's INTA on the PLIC source the swizzle and
 * the device tree name (slot 1 -> 33, slot 4 -> 32). */
TEST(machine_pcie_host_at_qemu_addresses) {
  const char *err0;
  lemu_rt *rt = lemu_rt_new(&err0);
  machine_config cfg = {.bios = "none", .ram_size = 256ull << 20};
  char err[512];
  machine *m = machine_new(rt, &cfg, NULL, err, sizeof err);
  CHECK(m != NULL);
  if (!m) { lemu_rt_free(rt); return; }
  bus *b = machine_bus(m);
  uint64_t v = 0;
  CHECK_EQ(bus_read(b, 0x30000000, 4, &v), 0);
  CHECK_EQ(v, 0x00081b36);
  bus_read(b, 0x30000008, 4, &v);
  CHECK_EQ(v, 0x06000000);
  bus_read(b, 0x3000002c, 4, &v);
  CHECK_EQ(v, 0x11001af4);
  bus_read(b, 0x30008000, 4, &v);
  CHECK_EQ(v, 0xffffffff);                         /* 00:01.0: empty */
  bus_read(b, 0x3ff00000, 2, &v);
  CHECK_EQ(v, 0xffff);                             /* bus 255 */
  CHECK_EQ(bus_read(b, 0x03000000, 4, &v), 0);     /* I/O port 0: nothing decodes it */
  CHECK_EQ(v, 0xffffffff);
  bus_read(b, 0x40000000, 8, &v);
  CHECK_EQ(v, UINT64_MAX);
  CHECK_EQ(bus_read(b, 0x400000000ull, 4, &v), 0); /* the 64-bit window above 256 MiB of RAM */
  CHECK_EQ(v, 0xffffffff);
  CHECK_EQ(bus_read(b, 0x800000000ull, 4, &v), -1);
  /* Two functions plugged where -device would put them; INTA raises PLIC 33, then 32. */
  pci_bus *pb = machine_pci(m);
  CHECK(pb != NULL);
  static const pci_id id = {0x1af4, 0x1000, 0, 0x020000, 0x1af4, 1, 1};
  pci_dev d1, d4;
  pci_dev_init(&d1, &id, NULL, NULL, "a");
  pci_dev_init(&d4, &id, NULL, NULL, "b");
  CHECK_EQ(pci_bus_plug(pb, &d1, -1), 1 << 3);
  CHECK_EQ(pci_bus_plug(pb, &d4, 4 << 3), 4 << 3);
  bus_read(b, 0x30008000, 4, &v);
  CHECK_EQ(v, 0x10001af4);
  pci_set_irq(&d1, 1);
  bus_read(b, 0x0c001004, 4, &v);                  /* PLIC pending, sources 32..63 */
  CHECK_EQ(v, 1u << 1);
  pci_set_irq(&d1, 0);
  pci_set_irq(&d4, 1);
  bus_read(b, 0x0c001004, 4, &v);
  CHECK_EQ(v, 1u << 0);
  pci_set_irq(&d4, 0);
  machine_close(m);
  lemu_rt_free(rt);
}

TEST(machine_new_names_a_bad_image) {
  const char *err0;
  lemu_rt *rt = lemu_rt_new(&err0);
  machine_config cfg = {.kernel = "/nonexistent/kernel"};
  char err[512] = "";
  CHECK(machine_new(rt, &cfg, NULL, err, sizeof err) == NULL);
  CHECK(strstr(err, "-kernel /nonexistent/kernel: No such file or directory") != NULL);
  CHECK_EQ(rt_obj_count(rt), 0);
  lemu_rt_free(rt);
}

/* A raw S-mode kernel on the built-in SBI runs at 0x80200000, where OpenSBI would start it and
 * where S-mode payloads for virt are linked (U-Boot's qemu-riscv64_smode loads absolute addresses
 * before it relocates). The program compares its own address with 0x80200000 and shuts down
 * through SBI SRST: a clean shutdown (status 0) if it matches, "system failure" (1) if not.
 * -bios none keeps QEMU's placement of a raw kernel at 0x80000000. */
static const uint32_t where_am_i[] = {
  0x00000297,   /* auipc t0, 0 */
  0x00100313,   /* li    t1, 1 */
  0x01f31313,   /* slli  t1, t1, 31 */
  0x002003b7,   /* lui   t2, 0x200 */
  0x00730333,   /* add   t1, t1, t2          0x80200000 */
  0x00100593,   /* li    a1, 1               reason: system failure */
  0x00629463,   /* bne   t0, t1, +8 */
  0x00000593,   /* li    a1, 0               reason: none */
  0x00000513,   /* li    a0, 0               type: shutdown */
  0x00000813,   /* li    a6, 0 */
  0x535258b7,   /* lui   a7, 0x53525 */
  0x3548889b,   /* addiw a7, a7, 0x354       SRST */
  0x00000073,   /* ecall */
  0x0000006f,   /* j     . */
};

/* Writes the program to a temporary file; path is a "/tmp/lemu-ctest-raw-XXXXXX" buffer. */
static int raw_kernel(char *path) {
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  int ok = write(fd, where_am_i, sizeof where_am_i) == (ssize_t)sizeof where_am_i;
  close(fd);
  return ok ? 0 : -1;
}

TEST(machine_builtin_sbi_starts_a_raw_kernel_at_0x80200000) {
  char path[] = "/tmp/lemu-ctest-raw-XXXXXX";
  CHECK_EQ(raw_kernel(path), 0);
  const char *err0;
  lemu_rt *rt = lemu_rt_new(&err0);
  env e = {0};
  machine_config cfg = {.kernel = path};
  machine_hooks h = {&e, on_console, on_exit_, NULL};
  char err[512];
  machine *m = machine_new(rt, &cfg, &h, err, sizeof err);
  CHECK(m != NULL);
  if (m) {
    uint64_t pc = 0, v = 0;
    int priv = -1;
    CHECK_EQ(machine_hart_state(m, 0, &pc, &priv), 0);
    CHECK_EQ(pc, 0x80200000);
    CHECK_EQ(priv, 1);
    bus_read(machine_bus(m), 0x80200000, 4, &v);
    CHECK_EQ(v, where_am_i[0]);
    machine_start(m);
    CHECK_EQ(lemu_rt_run(rt, exited, &e), LEMU_RUN_DONE);
    CHECK_EQ(e.status, 0);
    machine_close(m);
  }
  machine_config none = {.bios = "none", .kernel = path};
  m = machine_new(rt, &none, NULL, err, sizeof err);
  CHECK(m != NULL);
  if (m) {
    uint64_t v = 0;
    bus_read(machine_bus(m), 0x80000000, 4, &v);
    CHECK_EQ(v, where_am_i[0]);
    machine_close(m);
  }
  lemu_rt_free(rt);
  unlink(path);
}

/* What U-Boot does at booti with the tree it was given (fdt_high=~0: edited in place, in a copy of
 * exactly the tree's total size): the /chosen properties must fit in the free space. The built-in
 * SBI hands over a tree with room, as OpenSBI does; for a firmware the tree stays packed, as QEMU
 * builds it (OpenSBI opens it itself). */
static int grows_in_place(machine *m) {
  size_t len;
  const void *t = machine_dtb(m, &len);
  uint64_t total = 0;
  bus_read(machine_bus(m), machine_dtb_addr(m) + 4, 4, &total);   /* the tree in guest RAM */
  CHECK_EQ(__builtin_bswap32((uint32_t)total), len);
  uint8_t *copy = malloc(len);
  memcpy(copy, t, len);
  char args[2048];
  memset(args, 'x', sizeof args - 1);
  args[sizeof args - 1] = 0;
  int chosen = fdt_path_offset(copy, "/chosen");
  CHECK(chosen >= 0);
  int e = fdt_setprop_string(copy, chosen, "bootargs", args);
  if (e == 0) e = fdt_setprop_u64(copy, chosen, "linux,initrd-start", 0x8c300000);
  if (e == 0) e = fdt_setprop_u64(copy, chosen, "linux,initrd-end", 0x8c3e8126);
  if (e == 0) e = fdt_setprop_u32(copy, chosen, "boot-hartid", 0);
  if (e == 0) CHECK_EQ(fdt_check_full(copy, len), 0);
  free(copy);
  return e;
}

TEST(machine_builtin_sbi_hands_over_a_device_tree_with_room_to_grow) {
  char path[] = "/tmp/lemu-ctest-raw-XXXXXX";
  CHECK_EQ(raw_kernel(path), 0);
  const char *err0;
  lemu_rt *rt = lemu_rt_new(&err0);
  char err[512];
  machine_config sbi = {.kernel = path, .append = "console=ttyS0"};
  machine *m = machine_new(rt, &sbi, NULL, err, sizeof err);
  CHECK(m != NULL);
  char dtb[] = "/tmp/lemu-ctest-dtb-XXXXXX";
  int fd = mkstemp(dtb);
  CHECK(fd >= 0);
  if (m) {
    CHECK_EQ(grows_in_place(m), 0);
    size_t len;
    const void *t = machine_dtb(m, &len);
    CHECK(write(fd, t, len) == (ssize_t)len);
    machine_close(m);
  }
  close(fd);
  machine_config given = {.kernel = path, .dtb = dtb};       /* -dtb: the same room */
  m = machine_new(rt, &given, NULL, err, sizeof err);
  CHECK(m != NULL);
  if (m) {
    CHECK_EQ(grows_in_place(m), 0);
    machine_close(m);
  }
  unlink(dtb);
  machine_config fw = {.bios = "none", .kernel = path, .append = "console=ttyS0"};
  m = machine_new(rt, &fw, NULL, err, sizeof err);
  CHECK(m != NULL);
  if (m) {
    CHECK_EQ(grows_in_place(m), -FDT_ERR_NOSPACE);
    machine_close(m);
  }
  lemu_rt_free(rt);
  unlink(path);
}

/* Writes tree to a file and gives it to a machine as -dtb: 1 if the machine was refused with a
 * message that names -dtb and the file and holds `want`. */
static int dtb_refused_with(const uint8_t *tree, size_t len, const char *want) {
  char dtb[] = "/tmp/lemu-ctest-dtb-XXXXXX";
  int fd = mkstemp(dtb);
  CHECK(fd >= 0);
  CHECK(write(fd, tree, len) == (ssize_t)len);
  close(fd);
  const char *err0;
  lemu_rt *rt = lemu_rt_new(&err0);
  char err[512] = "", named[64];
  machine_config cfg = {.bios = "none", .dtb = dtb, .initrd = NULL, .ram_size = 16u << 20};
  machine *m = machine_new(rt, &cfg, NULL, err, sizeof err);
  if (m) machine_close(m);
  unlink(dtb);
  lemu_rt_free(rt);
  snprintf(named, sizeof named, "-dtb %s: ", dtb);
  if (!m && (!strstr(err, named) || !strstr(err, want))) fprintf(stderr, "# refused with: %s\n", err);
  return !m && strstr(err, named) && strstr(err, want);
}

/* Found by the dtb fuzz target: a -dtb whose header passes libfdt's check but whose memory
 * reservation map runs on into the structure block (no terminating entry before it) made
 * fdt_open_into move a negative length (ASan: negative-size-param). Such a tree is refused now,
 * with a message naming -dtb. This is the fuzzer's input (319 bytes). */
TEST(machine_refuses_a_dtb_whose_blocks_overlap) {
  static const uint8_t tree[] = {
    0xd0, 0x0d, 0xfe, 0xed, 0x00, 0x00, 0x00, 0xf6, 0x00, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00, 0xc0,
    0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x36, 0x00, 0x00, 0x00, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0x36, 0x00, 0x00,
    0x00, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00,
    0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00,
    0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0x5b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
    0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
    0x04, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x1b, 0x78, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x6d, 0x65, 0x6d,
    0x6f, 0x72, 0x79, 0x40, 0x38, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x00, 0x00, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x26, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x32, 0x00, 0x00, 0x00,
    0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x09, 0x23, 0x61, 0x64, 0x64, 0x72, 0x65, 0x73,
    0x73, 0x2d, 0x63, 0x65, 0x6c, 0x6c, 0x73, 0x00, 0x23, 0x73, 0x69, 0x7a, 0x65, 0x2d, 0x63, 0x65,
    0x6c, 0x6c, 0x73, 0x00, 0x63, 0x6f, 0x6d, 0x70, 0x61, 0x74, 0x69, 0x62, 0x6c, 0x65, 0x00, 0x64,
    0x65, 0x76, 0x69, 0x63, 0x65, 0x5f, 0x74, 0x79, 0x70, 0x65, 0x00, 0x72, 0x65, 0x67, 0x00,
  };
  CHECK_EQ(fdt_check_header(tree), 0);          /* libfdt's own header check lets it through */
  CHECK(dtb_refused_with(tree, sizeof tree, "not a flattened device tree (blocks overlap"));
}

/* A fuzz_dtb input from its committed corpus, without the first byte (the target's selector). */
static uint8_t *dtb_from_corpus(const char *name, size_t *len) {
  char path[256];
  snprintf(path, sizeof path, "spec/fuzz/corpus/dtb/%s", name);
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL);
  static uint64_t buf[512];             /* libfdt wants the tree 8-byte aligned */
  uint8_t *b = (uint8_t *)buf;
  size_t n = f ? fread(b, 1, sizeof buf, f) : 0;
  if (f) fclose(f);
  CHECK(n > 1);
  *len = n > 1 ? n - 1 : 0;
  memmove(b, b + 1, *len);
  return b;
}

/* The fuzzer's input: a version 9 tree whose root's name has no '/'. libfdt 1.6.1's fdt_get_name
 * returns NULL for it and fdt_check_full reads through that NULL (fixed upstream in 1.7.0). */
TEST(machine_refuses_a_dtb_older_than_version_16) {
  size_t len;
  const uint8_t *tree = dtb_from_corpus("old-version-root", &len);
  CHECK_EQ(fdt_check_header(tree), 0);
  CHECK_EQ(fdt_version(tree), 9);
  CHECK(dtb_refused_with(tree, len, "device tree version 9 is too old"));
}

/* The fuzzer's input: a property whose length is 0xfffffff4. Debian's libfdt 1.6.1 adds it to the
 * offset unchecked and fdt_check_full walks back and forth forever; lemu must refuse the tree. */
TEST(machine_refuses_a_dtb_whose_property_length_wraps) {
  size_t len;
  const uint8_t *tree = dtb_from_corpus("fdt-prop-length-wraps", &len);
  CHECK_EQ(fdt_check_header(tree), 0);
  CHECK(dtb_refused_with(tree, len, "not a flattened device tree"));
}
