/* test_virtio_pci: virtio-net as a PCI function, driven here as U-Boot drives it (the legacy I/O
 * BAR) and as Linux does (the modern structures the vendor capabilities point at): QEMU 7.2's
 * configuration space byte for byte, BAR sizes, INTx with the read-to-clear ISR, the PCI_CFG
 * window, and DMA that stops while bus mastering is off. */
#include <string.h>

#include "bus.h"
#include "ctest.h"
#include "pci.h"
#include "port.h"
#include "rt.h"
#include "virtio_blk.h"
#include "virtio_net.h"
#include "virtio_pci.h"
#include "virtio_rng.h"

#define RAM 0x80000000ull
#define RAMSZ 0x100000ull
#define IOBASE 0x1000
#define MEMBASE 0x40000000ull
#define HIGHBASE 0x400000000ull

typedef struct env {
  lemu_rt *rt;
  bus *b;
  uint8_t *ram;
  pci_bus *pb;
  int line[4];
  pci_window io, mem, high;
  net_hub *hub;
  vnet *n;
  virtio_pci *t;
  pci_dev *d;
} env;

static void on_intx(void *ud, int line, int level) { ((env *)ud)->line[line] = level; }

static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x70};

static void env_init(env *e) {
  memset(e, 0, sizeof *e);
  const char *err;
  e->rt = lemu_rt_new(&err);
  e->b = bus_new();
  e->ram = bus_add_ram(e->b, RAM, RAMSZ, "ram");
  pci_bus_hooks h = {e, on_intx};
  e->pb = pci_bus_new(e->b, &h);
  e->io = (pci_window){e->pb, 0, 1};
  e->mem = (pci_window){e->pb, 0, 0};
  e->hub = net_hub_new(e->rt, "lan");
  e->n = vnet_new(mac, "nic");
  e->t = virtio_pci_new(e->b, &vnet_ops, e->n);
  vnet_bind(e->n, virtio_pci_virtio(e->t));
  net_port_attach(vnet_port(e->n), e->hub);
  e->d = virtio_pci_dev(e->t);
  static pci_dev host;
  static const pci_id hid = {0x1b36, 0x0008, 0, 0x060000, 0x1af4, 0x1100, 0};
  pci_dev_init(&host, &hid, NULL, NULL, "host");
  pci_bus_plug(e->pb, &host, 0);
  CHECK_EQ(pci_bus_plug(e->pb, e->d, -1), 8);                /* slot 1: INTA on line 1 */
}

static void env_fini(env *e) {
  net_port_detach(vnet_port(e->n));
  pci_bus_free(e->pb);
  virtio_pci_free(e->t);
  vnet_free(e->n);
  bus_free(e->b);
  lemu_rt_free(e->rt);
}

static uint32_t cfg(env *e, uint32_t off, int size) { return pci_config_read(e->d, off, size); }
static void setcfg(env *e, uint32_t off, uint32_t v, int size) { pci_config_write(e->d, off, v, size); }
static uint32_t io_rd(env *e, uint32_t off, int size) {
  uint64_t v = pci_window_ops.read(&e->io, IOBASE + off, size);
  return (uint32_t)(size == 4 ? v : v & ((1u << (8 * size)) - 1));
}
static void io_wr(env *e, uint32_t off, uint32_t v, int size) { pci_window_ops.write(&e->io, IOBASE + off, v, size); }
static uint8_t *gp(env *e, uint64_t pa) { return e->ram + (pa - RAM); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

typedef struct sink { net_port port; int got; size_t len; uint8_t last[2048]; } sink;
static int sink_rx(net_port *p, net_frame *f) {
  sink *s = p->owner;
  s->got++;
  s->len = f->len < sizeof s->last ? f->len : sizeof s->last;
  memcpy(s->last, f->data, s->len);
  return 1;
}
static const net_port_ops sink_ops = {"sink", sink_rx};
static uint8_t frame[64] = {0x52, 0x54, 0, 0x12, 0x34, 0x70, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00};

/* QEMU 7.2's config space of 00:01.0 = -device virtio-net-pci,romfile= before any firmware ran
 * (xp /64wx 0x30008000 in its monitor). */
static const uint32_t qemu_net[] = {
  0x10001af4, 0x00100000, 0x02000000, 0x00000000, 0x00000001, 0x00000000, 0x00000000, 0x00000000,
  0x0000000c, 0x00000000, 0x00000000, 0x00011af4, 0x00000000, 0x00000098, 0x00000000, 0x00000100,
  0x01100009, 0x00000004, 0x00000000, 0x00001000, 0x03104009, 0x00000004, 0x00001000, 0x00001000,
  0x04105009, 0x00000004, 0x00002000, 0x00001000, 0x02146009, 0x00000004, 0x00003000, 0x00001000,
  0x00000004, 0x05147009, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00038411, 0x00000001,
  0x00000801, 0x00000000,
};

TEST(virtio_pci_config_space_is_qemus) {
  env e;
  env_init(&e);
  for (uint32_t i = 0; i < sizeof qemu_net / 4; i++) {
    if (cfg(&e, 4 * i, 4) != qemu_net[i]) printf("# at 0x%02x: 0x%08x\n", 4 * i, cfg(&e, 4 * i, 4));
    CHECK_EQ(cfg(&e, 4 * i, 4), qemu_net[i]);
  }
  for (uint32_t off = 4 * (sizeof qemu_net / 4); off < 0x100; off += 4) CHECK_EQ(cfg(&e, off, 4), 0);
  /* BAR sizes as QEMU's: I/O 32 bytes, MSI-X 4 KiB, the modern region 16 KiB (64-bit). */
  for (uint32_t off = 0x10; off < 0x28; off += 4) setcfg(&e, off, 0xffffffff, 4);
  CHECK_EQ(cfg(&e, 0x10, 4), 0xffffffe1);
  CHECK_EQ(cfg(&e, 0x14, 4), 0xfffff000);
  CHECK_EQ(cfg(&e, 0x18, 4), 0);
  CHECK_EQ(cfg(&e, 0x1c, 4), 0);
  CHECK_EQ(cfg(&e, 0x20, 4), 0xffffc00c);
  CHECK_EQ(cfg(&e, 0x24, 4), 0xffffffff);
  env_fini(&e);
  /* blk and rng: their IDs, classes, legacy BAR sizes and MSI-X vectors. */
  bus *b = bus_new();
  bus_add_ram(b, RAM, RAMSZ, "ram");
  virtio_pci *r = virtio_pci_new(b, &vrng_ops, NULL);
  pci_dev *d = virtio_pci_dev(r);
  CHECK_EQ(pci_config_read(d, 0, 4), 0x10051af4);
  CHECK_EQ(pci_config_read(d, 8, 4), 0x00ff0000);
  CHECK_EQ(pci_config_read(d, 0x2c, 4), 0x00041af4);
  CHECK_EQ(pci_config_read(d, 0x98, 4), 0x00018411);
  pci_config_write(d, 0x10, 0xffffffff, 4);
  CHECK_EQ(pci_config_read(d, 0x10, 4), 0xffffffe1);
  virtio_pci_free(r);
  virtio_pci *k = virtio_pci_new(b, &vblk_ops, NULL);
  d = virtio_pci_dev(k);
  CHECK_EQ(pci_config_read(d, 0, 4), 0x10011af4);
  CHECK_EQ(pci_config_read(d, 8, 4), 0x01000000);
  CHECK_EQ(pci_config_read(d, 0x2c, 4), 0x00021af4);
  pci_config_write(d, 0x10, 0xffffffff, 4);
  CHECK_EQ(pci_config_read(d, 0x10, 4), 0xffffff81);
  virtio_pci_free(k);
  bus_free(b);
}

/* Sets up queue q in the legacy layout at a page of its own; returns the ring's base. */
static uint64_t legacy_queue(env *e, int q) {
  uint64_t base = RAM + 0x10000 + 0x10000 * (uint64_t)q;
  io_wr(e, 0x0e, (uint32_t)q, 2);
  CHECK_EQ(io_rd(e, 0x0c, 2), 256);                        /* the queue size, fixed */
  CHECK_EQ(io_rd(e, 0x08, 4), 0);
  io_wr(e, 0x08, (uint32_t)(base >> 12), 4);
  CHECK_EQ(io_rd(e, 0x08, 4), base >> 12);
  return base;
}

TEST(virtio_pci_legacy_interface_as_uboot_drives_it) {
  env e;
  env_init(&e);
  sink s = {0};
  net_port_init(&s.port, &sink_ops, &s, "sink");
  net_port_attach(&s.port, e.hub);
  /* What U-Boot's PCI autoconfig does: BAR0 at port 0x1000, I/O, memory and bus mastering. */
  setcfg(&e, 0x10, IOBASE, 4);
  CHECK_EQ(io_rd(&e, 0x00, 4), 0xffffffff);               /* I/O decoding still off */
  setcfg(&e, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
  io_wr(&e, 0x12, 0, 1);
  io_wr(&e, 0x12, 1, 1);
  io_wr(&e, 0x12, 3, 1);
  uint32_t f = io_rd(&e, 0x00, 4);
  CHECK(f & (1u << 5));                                     /* MAC */
  io_wr(&e, 0x04, 1u << 5, 4);
  CHECK_EQ(io_rd(&e, 0x04, 4), 1u << 5);
  /* The MAC at offset 20: MSI-X is not enabled. */
  CHECK_EQ(io_rd(&e, 20, 1), 0x52);
  CHECK_EQ(io_rd(&e, 25, 1), 0x70);
  uint64_t rx = legacy_queue(&e, 0), tx = legacy_queue(&e, 1);
  io_wr(&e, 0x12, 7, 1);
  CHECK_EQ(io_rd(&e, 0x12, 1), 7);
  /* Transmit: a 10-byte header (no VERSION_1, no merged buffers), then the frame. */
  memset(gp(&e, RAM + 0x8000), 0, 10);
  memcpy(gp(&e, RAM + 0x8100), frame, sizeof frame);
  uint8_t *d = gp(&e, tx);
  put64(d, RAM + 0x8000); put32(d + 8, 10); put16(d + 12, 1); put16(d + 14, 1);
  put64(d + 16, RAM + 0x8100); put32(d + 24, sizeof frame); put16(d + 28, 0);
  uint8_t *avail = gp(&e, tx + 16 * 256);
  put16(avail + 4, 0);
  put16(avail + 2, 1);
  io_wr(&e, 0x10, 1, 2);
  CHECK_EQ(s.got, 1);
  CHECK_EQ(s.len, sizeof frame);
  /* Receive into a buffer: INTA of slot 1 goes up on line 1; reading the ISR takes it down. */
  d = gp(&e, rx);
  put64(d, RAM + 0x9000); put32(d + 8, 2048); put16(d + 12, 2); put16(d + 14, 0);
  avail = gp(&e, rx + 16 * 256);
  put16(avail + 4, 0);
  put16(avail + 2, 1);
  io_wr(&e, 0x10, 0, 2);
  net_port_send(&s.port, frame, sizeof frame);
  uint64_t used = (rx + 16 * 256 + 6 + 2 * 256 + 4095) & ~4095ull;
  CHECK_EQ(get16(gp(&e, used + 2)), 1);
  CHECK(memcmp(gp(&e, RAM + 0x9000 + 10), frame, sizeof frame) == 0);
  CHECK_EQ(e.line[1], 1);
  CHECK(cfg(&e, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
  CHECK_EQ(io_rd(&e, 0x13, 1), 1);
  CHECK_EQ(e.line[1], 0);
  CHECK_EQ(io_rd(&e, 0x13, 1), 0);
  /* INTx disable keeps the line down while the ISR holds the interrupt. */
  vnet_set_link(e.n, 0);
  CHECK_EQ(e.line[1], 1);                                    /* config change */
  setcfg(&e, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE, 2);
  CHECK_EQ(e.line[1], 0);
  CHECK_EQ(io_rd(&e, 0x13, 1), 2);
  /* A queue PFN of 0 resets the device. */
  io_wr(&e, 0x08, 0, 4);
  CHECK_EQ(io_rd(&e, 0x12, 1), 0);
  net_port_detach(&s.port);
  env_fini(&e);
}

/* A driver's capability walk for a virtio structure of the given type: its BAR offset. */
static int find_cap(env *e, int type, uint32_t *off, uint32_t *len) {
  for (uint32_t at = cfg(e, PCI_CAPABILITY_LIST, 1); at; at = cfg(e, at + 1, 1))
    if (cfg(e, at, 1) == PCI_CAP_ID_VNDR && cfg(e, at + 3, 1) == (uint32_t)type) {
      CHECK_EQ(cfg(e, at + 4, 1), 4);
      *off = cfg(e, at + 8, 4);
      *len = cfg(e, at + 12, 4);
      return (int)at;
    }
  return -1;
}

static uint64_t m_rd(env *e, uint64_t off, int size) { return pci_window_ops.read(&e->mem, HIGHBASE + off, size); }
static void m_wr(env *e, uint64_t off, uint64_t v, int size) { pci_window_ops.write(&e->mem, HIGHBASE + off, v, size); }

TEST(virtio_pci_modern_interface_as_linux_drives_it) {
  env e;
  env_init(&e);
  sink s = {0};
  net_port_init(&s.port, &sink_ops, &s, "sink");
  net_port_attach(&s.port, e.hub);
  /* Linux puts the 64-bit BAR4 in the window above 4 GiB and turns on memory and mastering. */
  setcfg(&e, 0x20, (uint32_t)HIGHBASE, 4);
  setcfg(&e, 0x24, (uint32_t)(HIGHBASE >> 32), 4);
  setcfg(&e, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
  uint32_t common, isr, dev, notify, len;
  CHECK(find_cap(&e, 1, &common, &len) == 0x40);
  CHECK(find_cap(&e, 3, &isr, &len) == 0x50);
  CHECK(find_cap(&e, 4, &dev, &len) == 0x60);
  int ncap = find_cap(&e, 2, &notify, &len);
  CHECK_EQ(ncap, 0x70);
  uint32_t mult = cfg(&e, (uint32_t)ncap + 16, 4);
  CHECK_EQ(mult, 4);
  m_wr(&e, common + 0x14, 0, 1);
  m_wr(&e, common + 0x14, 3, 1);
  m_wr(&e, common + 0x00, 1, 4);
  CHECK_EQ(m_rd(&e, common + 0x04, 4) & 1, 1);             /* VERSION_1 */
  m_wr(&e, common + 0x08, 0, 4);
  m_wr(&e, common + 0x0c, 1u << 5, 4);
  m_wr(&e, common + 0x08, 1, 4);
  m_wr(&e, common + 0x0c, 1, 4);
  m_wr(&e, common + 0x14, 0xb, 1);
  CHECK_EQ(m_rd(&e, common + 0x14, 1), 0xb);               /* FEATURES_OK kept */
  CHECK_EQ(m_rd(&e, common + 0x12, 2), 2);                 /* rx, tx */
  CHECK_EQ(m_rd(&e, dev + 5, 1), 0x70);                    /* the MAC's last byte */
  uint64_t q0 = RAM + 0x20000;
  for (int q = 0; q < 2; q++) {
    uint64_t base = q0 + 0x3000 * (uint64_t)q;
    m_wr(&e, common + 0x16, (uint64_t)q, 2);
    CHECK_EQ(m_rd(&e, common + 0x18, 2), 256);
    m_wr(&e, common + 0x18, 8, 2);
    CHECK_EQ(m_rd(&e, common + 0x1e, 2), (uint64_t)q);
    m_wr(&e, common + 0x1a, 0xffff, 2);
    CHECK_EQ(m_rd(&e, common + 0x1a, 2), 0xffff);
    m_wr(&e, common + 0x20, (uint32_t)base, 4);
    m_wr(&e, common + 0x24, (uint32_t)(base >> 32), 4);
    m_wr(&e, common + 0x28, (uint32_t)(base + 0x1000), 4);
    m_wr(&e, common + 0x2c, 0, 4);
    m_wr(&e, common + 0x30, base + 0x2000, 8);             /* a 64-bit access, split */
    m_wr(&e, common + 0x1c, 1, 2);
    CHECK_EQ(m_rd(&e, common + 0x1c, 2), 1);
  }
  m_wr(&e, common + 0x14, 0xf, 1);
  /* Transmit through doorbell 1: a 12-byte header. */
  uint64_t tx = q0 + 0x3000;
  memset(gp(&e, RAM + 0x8000), 0, 12);
  memcpy(gp(&e, RAM + 0x8000 + 12), frame, sizeof frame);
  uint8_t *d = gp(&e, tx);
  put64(d, RAM + 0x8000); put32(d + 8, 12 + sizeof frame); put16(d + 12, 0);
  put16(gp(&e, tx + 0x1000 + 4), 0);
  put16(gp(&e, tx + 0x1000 + 2), 1);
  m_wr(&e, notify + 1 * mult, 1, 2);
  CHECK_EQ(s.got, 1);
  CHECK_EQ(get16(gp(&e, tx + 0x2000 + 2)), 1);
  CHECK_EQ(e.line[1], 1);
  CHECK_EQ(m_rd(&e, isr, 1), 1);                           /* read-to-clear */
  CHECK_EQ(e.line[1], 0);
  /* The PCI_CFG window reaches the same structures through configuration space. */
  uint32_t w = 0x84;
  CHECK_EQ(cfg(&e, w + 3, 1), 5);
  setcfg(&e, w + 4, 4, 1);
  setcfg(&e, w + 8, common + 0x12, 4);
  setcfg(&e, w + 12, 2, 4);
  CHECK_EQ(cfg(&e, w + 16, 2), 2);                         /* num_queues */
  setcfg(&e, w + 8, common + 0x16, 4);
  setcfg(&e, w + 16, 1, 2);                                /* queue_select = 1 */
  CHECK_EQ(m_rd(&e, common + 0x16, 2), 1);
  /* Bus mastering off: the device stops (DRIVER_OK dropped) and touches no memory. */
  put16(gp(&e, tx + 0x1000 + 4 + 2), 0);
  put16(gp(&e, tx + 0x1000 + 2), 2);
  setcfg(&e, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
  CHECK_EQ(m_rd(&e, common + 0x14, 1), 0xb);
  m_wr(&e, notify + 1 * mult, 1, 2);
  CHECK_EQ(s.got, 1);
  CHECK_EQ(get16(gp(&e, tx + 0x2000 + 2)), 1);
  /* A write of 0 to the status resets, as does a PCI reset of the function. */
  m_wr(&e, common + 0x14, 0, 1);
  CHECK_EQ(m_rd(&e, common + 0x14, 1), 0);
  CHECK_EQ(m_rd(&e, common + 0x1c, 2), 0);
  pci_dev_reset(e.d);
  CHECK_EQ(cfg(&e, PCI_COMMAND, 2), 0);
  CHECK_EQ(cfg(&e, 0x20, 4), 0xc);
  net_port_detach(&s.port);
  env_fini(&e);
}

/* Found by fuzz_virtio_net_pci: a hart's 8-byte store into the legacy device config reached
 * virtio-net's config write as one access of size 8 (a shift past 32 bits). The window splits it
 * into two 4-byte accesses, low half first, as QEMU does for these registers. */
TEST(virtio_pci_eight_byte_access_reaches_the_device_as_two_words) {
  env e;
  env_init(&e);
  setcfg(&e, 0x10, IOBASE, 4);
  setcfg(&e, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
  pci_window_ops.write(&e.io, IOBASE + 20, 0x0000665544332211ull, 8);   /* the MAC, at 20 */
  CHECK_EQ(io_rd(&e, 20, 4), 0x44332211);
  CHECK_EQ(io_rd(&e, 24, 2), 0x6655);
  uint64_t both = pci_window_ops.read(&e.io, IOBASE + 20, 8);
  CHECK_EQ(both & 0xffffffffu, 0x44332211);
  CHECK_EQ((both >> 32) & 0xffff, 0x6655);
  /* past the BAR's end the second half reads all-ones, as an unassigned port does */
  CHECK_EQ(pci_window_ops.read(&e.io, IOBASE + 28, 8) >> 32, 0xffffffffu);
  env_fini(&e);
}

TEST(virtio_pci_msix_table_and_legacy_config_offset) {
  env e;
  env_init(&e);
  setcfg(&e, 0x10, IOBASE, 4);
  setcfg(&e, 0x14, (uint32_t)MEMBASE, 4);
  setcfg(&e, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
  /* Four vectors, all masked after reset; the PBA shows nothing pending. */
  for (int v = 0; v < 4; v++) CHECK_EQ(pci_window_ops.read(&e.mem, MEMBASE + 16 * (uint64_t)v + 12, 4), 1);
  pci_window_ops.write(&e.mem, MEMBASE + 16, 0xfee00000, 4);
  CHECK_EQ(pci_window_ops.read(&e.mem, MEMBASE + 16, 4), 0xfee00000);
  CHECK_EQ(pci_window_ops.read(&e.mem, MEMBASE + 0x800, 4), 0);
  CHECK_EQ(pci_window_ops.read(&e.mem, MEMBASE + 64, 4), 0);          /* past the table */
  /* Only the enable and function-mask bits of the control word are writable. */
  setcfg(&e, 0x9a, 0xffff, 2);
  CHECK_EQ(cfg(&e, 0x9a, 2), 0xc003);
  /* With MSI-X enabled the legacy config moves to 24 (the vector registers come in at 20). */
  CHECK_EQ(io_rd(&e, 24, 1), 0x52);
  CHECK_EQ(io_rd(&e, 0x14, 2), 0xffff);
  io_wr(&e, 0x14, 2, 2);
  CHECK_EQ(io_rd(&e, 0x14, 2), 2);
  io_wr(&e, 0x14, 9, 2);
  CHECK_EQ(io_rd(&e, 0x14, 2), 0xffff);                    /* no such vector */
  /* ... and no INTx: the interrupt would be a message, and this board has nothing to take it. */
  io_wr(&e, 0x12, 7, 1);
  vnet_set_link(e.n, 0);
  CHECK_EQ(e.line[1], 0);
  setcfg(&e, 0x9a, 0, 2);
  CHECK_EQ(e.line[1], 1);                                  /* back to INTx: the ISR still holds it */
  CHECK_EQ(io_rd(&e, 20, 1), 0x52);
  /* A reset clears the table and disables MSI-X. */
  setcfg(&e, 0x9a, 0x8000, 2);
  pci_dev_reset(e.d);
  CHECK_EQ(cfg(&e, 0x9a, 2), 0x0003);
  env_fini(&e);
}
