/* test_pci: the PCI core through the accesses a driver makes — configuration masks, BAR sizing
 * (I/O, 32- and 64-bit memory), write-1-to-clear status bits, the command register gating decode
 * and bus mastering, the capability list, ECAM decoding with absent functions, the INTx swizzle
 * with wired-OR lines, and the DMA checks. */
#include <string.h>

#include "bus.h"
#include "ctest.h"
#include "pci.h"

#define RAM 0x80000000ull
#define RAMSZ 0x10000ull

typedef struct regs { uint32_t last_off, last_val; int writes; } regs;

static uint64_t r_read(void *opaque, uint64_t off, int size) {
  (void)opaque; (void)size;
  return 0x1000 + off;
}
static void r_write(void *opaque, uint64_t off, uint64_t val, int size) {
  regs *r = opaque;
  (void)size;
  r->last_off = (uint32_t)off;
  r->last_val = (uint32_t)val;
  r->writes++;
}
static const bus_dev_ops r_ops = {r_read, r_write};

static const pci_id nic_id = {0x1af4, 0x1000, 0, 0x020000, 0x1af4, 0x0001, 1};

typedef struct env {
  bus *b;
  pci_bus *pb;
  int line[4];
  pci_window io, mem;
} env;

static void on_intx(void *ud, int line, int level) { ((env *)ud)->line[line] = level; }

static void env_init(env *e) {
  memset(e, 0, sizeof *e);
  e->b = bus_new();
  bus_add_ram(e->b, RAM, RAMSZ, "ram");
  pci_bus_hooks h = {e, on_intx};
  e->pb = pci_bus_new(e->b, &h);
  e->io = (pci_window){e->pb, 0, 1};
  e->mem = (pci_window){e->pb, 0x40000000, 0};
}

static void env_fini(env *e) {
  pci_bus_free(e->pb);
  bus_free(e->b);
}

static uint32_t ecam_rd(env *e, int devfn, uint32_t reg, int size) {
  return (uint32_t)pci_ecam_ops.read(e->pb, (uint64_t)devfn << 12 | reg, size);
}
static void ecam_wr(env *e, int devfn, uint32_t reg, uint32_t v, int size) {
  pci_ecam_ops.write(e->pb, (uint64_t)devfn << 12 | reg, v, size);
}

TEST(pci_config_space_masks) {
  pci_dev d;
  pci_dev_init(&d, &nic_id, NULL, NULL, "nic");
  CHECK_EQ(pci_config_read(&d, 0, 4), 0x10001af4);
  CHECK_EQ(pci_config_read(&d, 0x08, 4), 0x02000000);
  CHECK_EQ(pci_config_read(&d, 0x2c, 4), 0x00011af4);
  CHECK_EQ(pci_config_read(&d, 0x3c, 4), 0x00000100);
  /* IDs, class, revision, header type, latency timer and pin are read-only. */
  pci_config_write(&d, 0, 0xffffffff, 4);
  pci_config_write(&d, 0x08, 0xffffffff, 4);
  pci_config_write(&d, 0x0c, 0xffffffff, 4);
  pci_config_write(&d, 0x3c, 0xffffffff, 4);
  CHECK_EQ(pci_config_read(&d, 0, 4), 0x10001af4);
  CHECK_EQ(pci_config_read(&d, 0x08, 4), 0x02000000);
  CHECK_EQ(pci_config_read(&d, 0x0c, 4), 0x000000ff);     /* only the cache line size */
  CHECK_EQ(pci_config_read(&d, 0x3c, 4), 0x000001ff);     /* only the interrupt line */
  /* The command register takes I/O, memory, master, SERR and INTx disable, nothing else. */
  pci_config_write(&d, PCI_COMMAND, 0xffff, 2);
  CHECK_EQ(pci_config_read(&d, PCI_COMMAND, 2), 0x0507);
  /* The device-specific area is writable; bytes of a capability are not. */
  pci_config_write(&d, 0x48, 0xa5a5a5a5, 4);
  CHECK_EQ(pci_config_read(&d, 0x48, 4), 0xa5a5a5a5);
  /* Out of range: all ones, writes dropped. */
  CHECK_EQ(pci_config_read(&d, 0xfe, 4), 0xffffffff);
  /* Reset: what the driver set goes, the identity stays. */
  pci_dev_reset(&d);
  CHECK_EQ(pci_config_read(&d, PCI_COMMAND, 2), 0);
  CHECK_EQ(pci_config_read(&d, 0x0c, 1), 0);
  CHECK_EQ(pci_config_read(&d, 0x3c, 4), 0x00000100);
  CHECK_EQ(pci_config_read(&d, 0, 4), 0x10001af4);
}

TEST(pci_status_bits_clear_by_writing_one) {
  pci_dev d;
  pci_dev_init(&d, &nic_id, NULL, NULL, "nic");
  pci_add_capability(&d, PCI_CAP_ID_VNDR, 16);
  /* A device-side event sets received-master-abort and detected-parity. */
  pci_put(&d, PCI_STATUS, pci_get(&d, PCI_STATUS, 2) | PCI_STATUS_REC_MASTER_ABORT |
                          PCI_STATUS_DETECTED_PARITY, 2);
  CHECK_EQ(pci_config_read(&d, PCI_STATUS, 2), 0xa010);
  pci_config_write(&d, PCI_STATUS, 0, 2);                    /* writing 0 changes nothing */
  CHECK_EQ(pci_config_read(&d, PCI_STATUS, 2), 0xa010);
  pci_config_write(&d, PCI_STATUS, PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_CAP_LIST, 2);
  CHECK_EQ(pci_config_read(&d, PCI_STATUS, 2), 0x8010);      /* CAP_LIST stays: read-only */
  /* A 32-bit write of the command register with the status bits set clears them too. */
  pci_config_write(&d, PCI_COMMAND, 0xffff0006, 4);
  CHECK_EQ(pci_config_read(&d, PCI_COMMAND, 4), 0x00100006);
  /* INTERRUPT mirrors the device's INTx and cannot be written. */
  pci_set_irq(&d, 1);
  CHECK_EQ(pci_config_read(&d, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
  pci_config_write(&d, PCI_STATUS, 0xffff, 2);
  CHECK_EQ(pci_config_read(&d, PCI_STATUS, 2), PCI_STATUS_INTERRUPT | PCI_STATUS_CAP_LIST);
}

TEST(pci_bar_sizing_32_and_64_bit) {
  pci_dev d;
  regs r = {0};
  pci_dev_init(&d, &nic_id, NULL, NULL, "nic");
  CHECK_EQ(pci_register_bar(&d, 0, PCI_BAR_IO, 0x20, &r_ops, &r), 0);
  CHECK_EQ(pci_register_bar(&d, 1, PCI_BAR_MEM32, 0x1000, &r_ops, &r), 0);
  CHECK_EQ(pci_register_bar(&d, 4, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, 0x4000, &r_ops, &r), 0);
  CHECK_EQ(pci_register_bar(&d, 5, PCI_BAR_MEM32, 0x1000, &r_ops, &r), -1);   /* BAR4's high half */
  CHECK_EQ(pci_register_bar(&d, 2, PCI_BAR_MEM32, 0x1800, &r_ops, &r), -1);   /* not a power of 2 */
  CHECK_EQ(pci_register_bar(&d, 5, PCI_BAR_MEM64, 0x1000, &r_ops, &r), -1);   /* no room for it */
  CHECK_EQ(pci_config_read(&d, 0x10, 4), 0x1);
  CHECK_EQ(pci_config_read(&d, 0x14, 4), 0x0);
  CHECK_EQ(pci_config_read(&d, 0x20, 4), 0xc);
  CHECK_EQ(pci_config_read(&d, 0x24, 4), 0x0);
  /* Sizing: all ones in, the size mask and the type bits out. */
  for (uint32_t off = 0x10; off < 0x28; off += 4) pci_config_write(&d, off, 0xffffffff, 4);
  CHECK_EQ(pci_config_read(&d, 0x10, 4), 0xffffffe1);
  CHECK_EQ(pci_config_read(&d, 0x14, 4), 0xfffff000);
  CHECK_EQ(pci_config_read(&d, 0x18, 4), 0);                 /* no BAR 2 */
  CHECK_EQ(pci_config_read(&d, 0x20, 4), 0xffffc00c);
  CHECK_EQ(pci_config_read(&d, 0x24, 4), 0xffffffff);
  /* While sized (all ones) a BAR decodes nothing, even with decoding on. */
  pci_config_write(&d, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
  CHECK_EQ(pci_bar_addr(&d, 0), PCI_BAR_UNMAPPED);
  CHECK_EQ(pci_bar_addr(&d, 1), PCI_BAR_UNMAPPED);
  CHECK_EQ(pci_bar_addr(&d, 4), PCI_BAR_UNMAPPED);
  /* Programmed: low bits below the size are dropped; the 64-bit BAR above 4 GiB. */
  pci_config_write(&d, 0x10, 0x1234, 4);
  pci_config_write(&d, 0x14, 0x40001fff, 4);
  pci_config_write(&d, 0x20, 0x00000000, 4);
  pci_config_write(&d, 0x24, 0x4, 4);
  CHECK_EQ(pci_config_read(&d, 0x10, 4), 0x1221);
  CHECK_EQ(pci_config_read(&d, 0x14, 4), 0x40001000);
  CHECK_EQ(pci_bar_addr(&d, 0), 0x1220);
  CHECK_EQ(pci_bar_addr(&d, 1), 0x40001000);
  CHECK_EQ(pci_bar_addr(&d, 4), 0x400000000ull);
  /* Port 0 is a valid address on this board (QEMU's pci_allow_0_address). */
  pci_config_write(&d, 0x10, 0, 4);
  CHECK_EQ(pci_bar_addr(&d, 0), 0);
  /* Reset puts the type bits back. */
  pci_dev_reset(&d);
  CHECK_EQ(pci_config_read(&d, 0x14, 4), 0);
  CHECK_EQ(pci_config_read(&d, 0x20, 4), 0xc);
  CHECK_EQ(pci_config_read(&d, 0x24, 4), 0);
}

TEST(pci_command_register_gates_decode) {
  env e;
  env_init(&e);
  pci_dev d;
  regs r = {0};
  pci_dev_init(&d, &nic_id, NULL, NULL, "nic");
  pci_register_bar(&d, 0, PCI_BAR_IO, 0x20, &r_ops, &r);
  pci_register_bar(&d, 1, PCI_BAR_MEM32, 0x1000, &r_ops, &r);
  CHECK_EQ(pci_bus_plug(e.pb, &d, 8), 8);
  pci_config_write(&d, 0x10, 0x1000, 4);
  pci_config_write(&d, 0x14, 0x40002000, 4);
  /* Decoding off: the windows read all ones and drop writes. */
  CHECK_EQ(pci_window_ops.read(&e.io, 0x1004, 4), 0xffffffff);
  CHECK_EQ(pci_window_ops.read(&e.mem, 0x2008, 2), 0xffff);
  pci_window_ops.write(&e.mem, 0x2008, 1, 4);
  CHECK_EQ(r.writes, 0);
  /* Memory on, I/O still off. */
  pci_config_write(&d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
  CHECK_EQ(pci_window_ops.read(&e.mem, 0x2008, 4), 0x1008);
  CHECK_EQ(pci_window_ops.read(&e.io, 0x1004, 4), 0xffffffff);
  pci_window_ops.write(&e.mem, 0x2010, 7, 4);
  CHECK_EQ(r.writes, 1);
  CHECK_EQ(r.last_off, 0x10);
  CHECK_EQ(r.last_val, 7);
  /* I/O on too; an access past the BAR's end, or elsewhere in the window, reads all ones. */
  pci_config_write(&d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
  CHECK_EQ(pci_window_ops.read(&e.io, 0x1004, 1) & 0xff, 0x04);   /* the bus masks to size */
  CHECK_EQ(pci_window_ops.read(&e.io, 0x101e, 4), 0xffffffff);
  CHECK_EQ(pci_window_ops.read(&e.io, 0x2000, 4), 0xffffffff);
  CHECK_EQ(pci_window_ops.read(&e.mem, 0x3000, 8), UINT64_MAX);
  /* Moving the BAR moves the decode. */
  pci_config_write(&d, 0x14, 0x40005000, 4);
  CHECK_EQ(pci_window_ops.read(&e.mem, 0x2008, 4), 0xffffffff);
  CHECK_EQ(pci_window_ops.read(&e.mem, 0x5008, 4), 0x1008);
  env_fini(&e);
}

TEST(pci_capability_list_walk) {
  pci_dev d;
  pci_dev_init(&d, &nic_id, NULL, NULL, "nic");
  CHECK_EQ(pci_config_read(&d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
  CHECK_EQ(pci_config_read(&d, PCI_CAPABILITY_LIST, 1), 0);
  /* virtio-pci's layout: five vendor caps and MSI-X, each first-fit from 0x40. */
  static const int lens[] = {16, 16, 16, 20, 20, 12};
  static const int want[] = {0x40, 0x50, 0x60, 0x70, 0x84, 0x98};
  for (int i = 0; i < 6; i++)
    CHECK_EQ(pci_add_capability(&d, i == 5 ? PCI_CAP_ID_MSIX : PCI_CAP_ID_VNDR, lens[i]), want[i]);
  CHECK(pci_config_read(&d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
  /* A driver's walk: newest first, ending at 0. */
  int at = (int)pci_config_read(&d, PCI_CAPABILITY_LIST, 1), n = 0;
  while (at && n < 10) {
    CHECK_EQ(at, want[5 - n]);
    CHECK_EQ(pci_config_read(&d, (uint32_t)at, 1), n == 0 ? PCI_CAP_ID_MSIX : PCI_CAP_ID_VNDR);
    at = (int)pci_config_read(&d, (uint32_t)at + 1, 1);
    n++;
  }
  CHECK_EQ(n, 6);
  /* Capability bytes are read-only unless widened; the rest of the area stays writable. */
  pci_config_write(&d, 0x44, 0xffffffff, 4);
  CHECK_EQ(pci_config_read(&d, 0x44, 4), 0);
  pci_set_wmask(&d, 0x44, 1, 0xff);
  pci_config_write(&d, 0x44, 0x12345678, 4);
  CHECK_EQ(pci_config_read(&d, 0x44, 4), 0x78);
  pci_config_write(&d, 0xa4, 0x11223344, 4);
  CHECK_EQ(pci_config_read(&d, 0xa4, 4), 0x11223344);
  /* No room: -1. */
  CHECK_EQ(pci_add_capability(&d, PCI_CAP_ID_VNDR, 0x80), -1);
}

TEST(pci_ecam_decodes_bus_device_function_register) {
  env e;
  env_init(&e);
  static const pci_id host = {0x1b36, 0x0008, 0, 0x060000, 0x1af4, 0x1100, 0};
  pci_dev h, d;
  pci_dev_init(&h, &host, NULL, NULL, "host");
  pci_dev_init(&d, &nic_id, NULL, NULL, "nic");
  CHECK_EQ(pci_bus_plug(e.pb, &h, 0), 0);
  CHECK_EQ(pci_bus_plug(e.pb, &d, -1), 8);                   /* first free slot: 1 */
  CHECK_EQ(ecam_rd(&e, 0, 0, 4), 0x00081b36);
  CHECK_EQ(ecam_rd(&e, 0, 8, 4), 0x06000000);
  CHECK_EQ(ecam_rd(&e, 0, 0x2c, 4), 0x11001af4);
  CHECK_EQ(ecam_rd(&e, 8, 0, 2), 0x1af4);
  CHECK_EQ(ecam_rd(&e, 8, 2, 2), 0x1000);
  CHECK_EQ(ecam_rd(&e, 8, 3, 1), 0x10);
  CHECK_EQ(pci_ecam_ops.read(e.pb, 8 << 12, 8), 0x0000000010001af4ull);
  /* Absent: other slots, other functions, other buses, and registers past 256 bytes. */
  CHECK_EQ(ecam_rd(&e, 16, 0, 4), 0xffffffff);
  CHECK_EQ(ecam_rd(&e, 9, 0, 4), 0xffffffff);
  CHECK_EQ(ecam_rd(&e, 8, 0x100, 4), 0xffffffff);
  CHECK_EQ(ecam_rd(&e, 8, 0xffc, 2), 0xffff);
  CHECK_EQ(pci_ecam_ops.read(e.pb, 1u << 20 | 8 << 12, 4), 0xffffffff);
  CHECK_EQ(pci_ecam_ops.read(e.pb, 255u << 20, 1), 0xff);
  ecam_wr(&e, 16, 0x04, 7, 2);                               /* dropped */
  ecam_wr(&e, 8, 0x104, 7, 2);
  ecam_wr(&e, 8, 0x04, 6, 2);
  CHECK_EQ(ecam_rd(&e, 8, 4, 2), 6);
  pci_ecam_ops.write(e.pb, 8 << 12 | 0x0c, 0x0000abcd00000010ull, 8);
  CHECK_EQ(ecam_rd(&e, 8, 0x0c, 1), 0x10);
  /* addr= picks a slot; a taken one is refused. */
  pci_dev d2, d3;
  pci_dev_init(&d2, &nic_id, NULL, NULL, "nic2");
  pci_dev_init(&d3, &nic_id, NULL, NULL, "nic3");
  CHECK_EQ(pci_bus_plug(e.pb, &d2, 5 << 3), 5 << 3);
  CHECK_EQ(pci_bus_plug(e.pb, &d3, 5 << 3), -1);
  CHECK_EQ(pci_bus_plug(e.pb, &d3, -1), 2 << 3);
  env_fini(&e);
}

TEST(pci_intx_swizzle_and_wired_or) {
  env e;
  env_init(&e);
  /* QEMU's map for the virt board: slot s, pin p (1..4) -> line (s + p - 1) mod 4. */
  CHECK_EQ(pci_swizzle(0, 1), 0);
  CHECK_EQ(pci_swizzle(1, 1), 1);
  CHECK_EQ(pci_swizzle(3, 1), 3);
  CHECK_EQ(pci_swizzle(4, 1), 0);
  CHECK_EQ(pci_swizzle(1, 4), 0);
  CHECK_EQ(pci_swizzle(2, 3), 0);
  pci_dev d[6];
  pci_dev_init(&d[0], &nic_id, NULL, NULL, "host");
  pci_bus_plug(e.pb, &d[0], 0);
  for (int i = 1; i <= 5; i++) {
    pci_dev_init(&d[i], &nic_id, NULL, NULL, "nic");
    CHECK_EQ(pci_bus_plug(e.pb, &d[i], -1), i << 3);
  }
  pci_set_irq(&d[1], 1);
  CHECK_EQ(e.line[1], 1);
  CHECK_EQ(e.line[0] | e.line[2] | e.line[3], 0);
  pci_set_irq(&d[4], 1);
  CHECK_EQ(e.line[0], 1);
  /* Slots 1 and 5 share line 1: it stays up until both drop it. */
  pci_set_irq(&d[5], 1);
  pci_set_irq(&d[1], 0);
  CHECK_EQ(e.line[1], 1);
  pci_set_irq(&d[5], 0);
  CHECK_EQ(e.line[1], 0);
  /* INTx disable hides the level from the bus; clearing it shows the level again. */
  pci_config_write(&d[4], PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, 2);
  CHECK_EQ(e.line[0], 0);
  CHECK(pci_config_read(&d[4], PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
  pci_config_write(&d[4], PCI_COMMAND, 0, 2);
  CHECK_EQ(e.line[0], 1);
  CHECK_EQ(pci_bus_line(e.pb, 0), 1);
  /* A bus reset deasserts everything. */
  pci_set_irq(&d[3], 1);
  pci_bus_reset(e.pb);
  for (int i = 0; i < 4; i++) CHECK_EQ(e.line[i], 0);
  env_fini(&e);
}

static uint64_t code_lo, code_len;
static void on_code(void *ud, uint64_t pa, uint64_t len) { (void)ud; code_lo = pa; code_len = len; }

TEST(pci_dma_needs_bus_mastering_and_ram) {
  env e;
  env_init(&e);
  bus_set_code_write_hook(e.b, on_code, NULL);
  pci_dev d;
  pci_dev_init(&d, &nic_id, NULL, NULL, "nic");
  uint8_t buf[16] = {1, 2, 3};
  CHECK(pci_dma_map(&d, RAM, 16, 0) == NULL);               /* not on a bus */
  pci_bus_plug(e.pb, &d, -1);
  CHECK(pci_dma_map(&d, RAM, 16, 0) == NULL);               /* bus mastering off */
  CHECK_EQ(pci_dma_write(&d, RAM + 0x100, buf, 3), -1);
  pci_config_write(&d, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
  CHECK(pci_dma_map(&d, RAM, 16, 0) != NULL);
  CHECK(pci_dma_map(&d, RAM + RAMSZ - 8, 16, 0) == NULL);   /* runs past the end of RAM */
  CHECK(pci_dma_map(&d, 0x40000000, 4, 0) == NULL);         /* not RAM */
  CHECK(pci_dma_map(&d, RAM, UINT64_MAX, 1) == NULL);       /* a length that wraps */
  code_len = 0;
  CHECK_EQ(pci_dma_write(&d, RAM + 0x100, buf, 3), 0);
  CHECK_EQ(code_lo, RAM + 0x100);                            /* the CPU hears of the write */
  CHECK_EQ(code_len, 3);
  uint8_t back[3];
  CHECK_EQ(pci_dma_read(&d, RAM + 0x100, back, 3), 0);
  CHECK(memcmp(back, buf, 3) == 0);
  pci_config_write(&d, PCI_COMMAND, 0, 2);
  CHECK_EQ(pci_dma_read(&d, RAM + 0x100, back, 3), -1);
  env_fini(&e);
}
