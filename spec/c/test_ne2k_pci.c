/* test_ne2k_pci: the RTL8029 (ne2k_pci) driven through its I/O BAR as Linux 6.1's ne2k-pci and
 * lib8390 drive it — probe, PROM read in word mode, init, transmit with outsl, receive through the
 * ring with insl, ISR and INTx, backpressure on a full ring — and as the exploits of QEMU's
 * NE2000 CVEs drove QEMU's model: each such test asserts the walk ends, nothing lands outside the
 * card's memory (the memory is the last member of its allocation, so ASan sees any overrun), and
 * the refusal is counted. Last, the card through the registry on the virt board's PCIe host. */
#include <string.h>
#include <zlib.h>

#include "bus.h"
#include "ctest.h"
#include "dtimer.h"
#include "mdevices.h"
#include "ne2k_pci.h"
#include "pci.h"
#include "port.h"
#include "rt.h"

#define IOBASE 0x1000

/* Linux's names (drivers/net/ethernet/8390/8390.h, ne2k-pci.c) for what the tests write. */
enum {
  CMD = 0x00, PSTART = 0x01, PSTOP = 0x02, BNRY = 0x03, TPSR = 0x04, TSR = 0x04, TBCR0 = 0x05,
  TBCR1 = 0x06, ISR = 0x07, RSAR0 = 0x08, RSAR1 = 0x09, RBCR0 = 0x0a, RBCR1 = 0x0b, RCR = 0x0c,
  TCR = 0x0d, COUNTER0 = 0x0d, DCR = 0x0e, IMR = 0x0f, PAR0 = 0x01, CURR = 0x07, MAR0 = 0x08,
  DATA = 0x10, RESET = 0x1f,
};
enum {
  STOP = 0x01, START = 0x02, TRANS = 0x04, RREAD = 0x08, RWRITE = 0x10, NODMA = 0x20,
  PAGE0 = 0x00, PAGE1 = 0x40, PAGE2 = 0x80, PAGE3 = 0xc0,
};
enum { I_RX = 0x01, I_TX = 0x02, I_RXE = 0x04, I_RDC = 0x40, I_RESET = 0x80, I_ALL = 0x3f };
enum { TX_START = 0x40, RX_START = 0x4c, RX_STOP = 0x80 };

typedef struct sink {
  net_port port;
  int got;
  size_t len;
  uint8_t last[2048];
} sink;

static int sink_rx(net_port *p, net_frame *f) {
  sink *s = p->owner;
  s->got++;
  s->len = f->len < sizeof s->last ? f->len : sizeof s->last;
  memcpy(s->last, f->data, s->len);
  return 1;
}
static const net_port_ops sink_ops = {"sink", sink_rx};

typedef struct env {
  lemu_rt *rt;
  bus *b;
  pci_bus *pb;
  int line[4];
  pci_window io;
  net_hub *hub;
  void *card;
  pci_dev *d;
  nic *n;
  sink s;                        /* the hub's test endpoint */
  dtimer_clock clock;            /* the machine's, standing still: settle() runs what is due */
} env;

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static pci_dev host;

static void on_intx(void *ud, int line, int level) { ((env *)ud)->line[line] = level; }
static uint64_t clock_now(void *ud) { (void)ud; return 1000; }
/* What the board does between slices: runs the card's due timer (held frames offered again). */
static void settle(env *e) { dtimer_run(&e->clock); }

static void env_init(env *e) {
  memset(e, 0, sizeof *e);
  const char *err;
  e->rt = lemu_rt_new(&err);
  e->b = bus_new();
  bus_add_ram(e->b, 0x80000000ull, 0x10000, "ram");
  pci_bus_hooks h = {e, on_intx};
  e->pb = pci_bus_new(e->b, &h);
  e->io = (pci_window){e->pb, 0, 1};
  e->hub = net_hub_new(e->rt, "lan");
  static const pci_id hid = {0x1b36, 0x0008, 0, 0x060000, 0x1af4, 0x1100, 0};
  pci_dev_init(&host, &hid, NULL, NULL, "host");
  pci_bus_plug(e->pb, &host, 0);
  dtimer_clock_init(&e->clock, clock_now, NULL, e);
  e->card = ne2k_pci_model.create(mac, "ne2k", &e->clock);
  e->d = ne2k_pci_model.pci(e->card);
  e->n = ne2k_pci_model.nic(e->card);
  CHECK_EQ(pci_bus_plug(e->pb, e->d, -1), 8);              /* slot 1: INTA on line 1 */
  net_port_attach(&e->n->port, e->hub);
  net_port_init(&e->s.port, &sink_ops, &e->s, "sink");
  net_port_attach(&e->s.port, e->hub);
  /* What Linux's PCI setup leaves: BAR0 at an I/O port, I/O decoding on. */
  pci_config_write(e->d, PCI_BAR0, IOBASE, 4);
  pci_config_write(e->d, PCI_COMMAND, PCI_COMMAND_IO, 2);
}

static void env_fini(env *e) {
  net_port_detach(&e->s.port);
  pci_bus_free(e->pb);
  ne2k_pci_model.destroy(e->card);
  bus_free(e->b);
  lemu_rt_free(e->rt);
}

static uint32_t in(env *e, uint32_t port, int size) {
  uint64_t v = pci_window_ops.read(&e->io, IOBASE + port, size);
  return (uint32_t)(size == 4 ? v : v & ((1u << (8 * size)) - 1));
}
static void out(env *e, uint32_t port, uint32_t v, int size) {
  pci_window_ops.write(&e->io, IOBASE + port, v, size);
}
static uint8_t inb(env *e, uint32_t port) { return (uint8_t)in(e, port, 1); }
static void outb(env *e, uint8_t v, uint32_t port) { out(e, port, v, 1); }   /* Linux's order */

typedef struct found { const char *name; uint64_t v; int seen; } found;
static void find_counter(void *ud, const char *name, uint64_t v) {
  found *f = ud;
  if (strcmp(f->name, name) == 0) { f->v = v; f->seen = 1; }
}
static uint64_t counter(env *e, const char *name) {
  found f = {name, 0, 0};
  ne2k_pci_model.counters(e->card, find_counter, &f);
  CHECK(f.seen);
  return f.v;
}

/* ---- the driver's side, as ne2k-pci.c and lib8390.c do it ---- */

/* ne2k_pci_init_one up to the SA-PROM read; returns the 32 bytes read. */
static void probe(env *e, uint8_t prom[32]) {
  CHECK(inb(e, CMD) != 0xff);
  outb(e, NODMA + PAGE1 + STOP, CMD);
  uint8_t regd = inb(e, 0x0d);
  outb(e, 0xff, 0x0d);
  outb(e, NODMA + PAGE0, CMD);
  inb(e, COUNTER0);
  CHECK_EQ(inb(e, COUNTER0), 0);                           /* "a 8390" */
  (void)regd;
  CHECK_EQ(inb(e, ISR) & I_RESET, 0);                      /* cleared by the CMD without STOP */
  outb(e, inb(e, RESET), RESET);
  CHECK(inb(e, ISR) & I_RESET);                            /* no "Card failure (no reset ack)" */
  outb(e, 0xff, ISR);
  static const uint8_t seq[][2] = {
    {NODMA + PAGE0 + STOP, CMD}, {0x49, DCR}, {0, RBCR0}, {0, RBCR1}, {0, IMR}, {0xff, ISR},
    {0x20, RCR}, {0x02, TCR}, {32, RBCR0}, {0, RBCR1}, {0, RSAR0}, {0, RSAR1}, {RREAD + START, CMD},
  };
  for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) outb(e, seq[i][0], seq[i][1]);
  for (int i = 0; i < 32; i++) prom[i] = inb(e, DATA);     /* REALTEK_FDX: byte reads */
  outb(e, 0x49, DCR);
}

/* NS8390_init(dev, startp) with Linux's pages, and the multicast list RCR = 0x04 (broadcast). */
static void init_8390(env *e, int startp) {
  outb(e, NODMA + PAGE0 + STOP, CMD);
  outb(e, 0x49, DCR);
  outb(e, 0, RBCR0);
  outb(e, 0, RBCR1);
  outb(e, 0x20, RCR);
  outb(e, 0x02, TCR);
  outb(e, TX_START, TPSR);
  outb(e, RX_START, PSTART);
  outb(e, RX_STOP - 1, BNRY);
  outb(e, RX_STOP, PSTOP);
  outb(e, 0xff, ISR);
  outb(e, 0, IMR);
  outb(e, NODMA + PAGE1 + STOP, CMD);
  for (int i = 0; i < 6; i++) outb(e, mac[i], PAR0 + (uint32_t)i);
  outb(e, RX_START, CURR);
  outb(e, NODMA + PAGE0 + STOP, CMD);
  if (!startp) return;
  outb(e, 0xff, ISR);
  outb(e, I_ALL, IMR);
  outb(e, NODMA + PAGE0 + START, CMD);
  outb(e, 0x00, TCR);
  outb(e, 0x04, RCR);
  outb(e, 0x04, RCR);                                      /* do_set_multicast_list: none */
  outb(e, NODMA + PAGE1, CMD);
  for (int i = 0; i < 8; i++) {
    outb(e, 0, MAR0 + (uint32_t)i);
    CHECK_EQ(inb(e, MAR0 + (uint32_t)i), 0);               /* "Multicast filter read/write mismap" */
  }
  outb(e, NODMA + PAGE0, CMD);
  outb(e, 0x04, RCR);
}

static void linux_up(env *e) {
  uint8_t prom[32];
  probe(e, prom);
  init_8390(e, 0);
  init_8390(e, 1);                                         /* ei_open */
}

/* ne2k_pci_block_output + NS8390_trigger_send: outsl, the outw tail, RDC, then TXP. */
static void xmit(env *e, const uint8_t *buf, int len, int page) {
  int count = len + (len & 1);  /* REALTEK_FDX is not ONLY_32BIT_IO: rounded up to even */
  outb(e, PAGE0 + START + NODMA, CMD);
  outb(e, I_RDC, ISR);
  outb(e, (uint8_t)count, RBCR0);
  outb(e, (uint8_t)(count >> 8), RBCR1);
  outb(e, 0, RSAR0);
  outb(e, (uint8_t)page, RSAR1);
  outb(e, RWRITE + START, CMD);
  int i = 0;
  for (; i + 4 <= count; i += 4) {
    uint32_t v;
    memcpy(&v, buf + i, 4);
    out(e, DATA, v, 4);
  }
  if (count & 2) {
    uint16_t v = 0;
    memcpy(&v, buf + i, (size_t)(len - i < 2 ? len - i : 2));
    out(e, DATA, v, 2);
  }
  CHECK(inb(e, ISR) & I_RDC);                              /* no "timeout waiting for Tx RDC" */
  outb(e, I_RDC, ISR);
  outb(e, NODMA + PAGE0, CMD);
  CHECK_EQ(inb(e, CMD) & TRANS, 0);
  outb(e, (uint8_t)len, TBCR0);
  outb(e, (uint8_t)(len >> 8), TBCR1);
  outb(e, (uint8_t)page, TPSR);
  outb(e, NODMA + TRANS + START, CMD);
}

/* Remote-DMA read of count bytes at addr: insl, then inw and inb for the tail. */
static void block_input(env *e, uint8_t *buf, int count, uint32_t addr) {
  outb(e, NODMA + PAGE0 + START, CMD);
  outb(e, (uint8_t)count, RBCR0);
  outb(e, (uint8_t)(count >> 8), RBCR1);
  outb(e, (uint8_t)addr, RSAR0);
  outb(e, (uint8_t)(addr >> 8), RSAR1);
  outb(e, RREAD + START, CMD);
  int i = 0;
  for (; i + 4 <= count; i += 4) {
    uint32_t v = in(e, DATA, 4);
    memcpy(buf + i, &v, 4);
  }
  if (count & 2) {
    uint16_t v = (uint16_t)in(e, DATA, 2);
    memcpy(buf + i, &v, 2);
    i += 2;
  }
  if (count & 1) buf[i] = inb(e, DATA);
  outb(e, I_RDC, ISR);
}

/* Remote-DMA write of count bytes at addr, a byte at a time in byte mode. */
static void poke(env *e, uint32_t addr, const uint8_t *buf, int count) {
  outb(e, 0x48, DCR);
  outb(e, (uint8_t)count, RBCR0);
  outb(e, (uint8_t)(count >> 8), RBCR1);
  outb(e, (uint8_t)addr, RSAR0);
  outb(e, (uint8_t)(addr >> 8), RSAR1);
  outb(e, RWRITE + START, CMD);
  for (int i = 0; i < count; i++) outb(e, buf[i], DATA);
  outb(e, 0x49, DCR);
  outb(e, I_RDC, ISR);
}

typedef struct hdr { uint8_t status, next; uint16_t count; } hdr;

/* One turn of ei_receive: the next frame's header (one inl) and data; BNRY moved past it.
 * Returns the frame's length, or 0 when CURR says the ring is empty. */
static int rx_one(env *e, uint8_t *buf, hdr *h) {
  outb(e, NODMA + PAGE1, CMD);
  uint8_t rxing = inb(e, CURR);
  outb(e, NODMA + PAGE0, CMD);
  uint8_t this = (uint8_t)(inb(e, BNRY) + 1);
  if (this >= RX_STOP) this = RX_START;
  if (this == rxing) return 0;
  outb(e, NODMA + PAGE0 + START, CMD);
  outb(e, 4, RBCR0);
  outb(e, 0, RBCR1);
  outb(e, 0, RSAR0);
  outb(e, this, RSAR1);
  outb(e, RREAD + START, CMD);
  uint32_t v = in(e, DATA, 4);
  outb(e, I_RDC, ISR);
  h->status = (uint8_t)v;
  h->next = (uint8_t)(v >> 8);
  h->count = (uint16_t)(v >> 16);
  int len = h->count - 4;
  int next = this + 1 + ((len + 4) >> 8);
  CHECK(h->next == next || h->next == next + 1 || h->next == next - (RX_STOP - RX_START) ||
        h->next == next + 1 - (RX_STOP - RX_START));       /* lib8390's bogosity check */
  block_input(e, buf, len, ((uint32_t)this << 8) + 4);
  outb(e, (uint8_t)(h->next - 1), BNRY);
  return len;
}

static void frame_to(uint8_t *f, size_t len, const uint8_t dst[6], uint8_t seed) {
  memcpy(f, dst, 6);
  static const uint8_t src[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
  memcpy(f + 6, src, 6);
  f[12] = 0x08;
  f[13] = 0x00;
  for (size_t i = 14; i < len; i++) f[i] = (uint8_t)(seed + i * 7);
}

/* ---- identity and probe ---- */

TEST(ne2k_config_space_is_qemus) {
  /* QEMU 7.2, -device ne2k_pci,romfile= before any firmware ran: xp /64wx 0x30008000. */
  static const uint32_t qemu[16] = {
    0x802910ec, 0x00000000, 0x02000000, 0x00000000, 0x00000001, 0, 0, 0,
    0, 0, 0, 0x11001af4, 0x00000000, 0x00000000, 0x00000000, 0x00000100,
  };
  void *card = ne2k_pci_model.create(mac, "ne2k", NULL);
  pci_dev *d = ne2k_pci_model.pci(card);
  for (uint32_t i = 0; i < 16; i++) CHECK_EQ(pci_config_read(d, 4 * i, 4), qemu[i]);
  for (uint32_t off = 0x40; off < 0x100; off += 4) CHECK_EQ(pci_config_read(d, off, 4), 0);
  pci_config_write(d, PCI_BAR0, 0xffffffff, 4);
  CHECK_EQ(pci_config_read(d, PCI_BAR0, 4), 0xffffff01);   /* 256 bytes of I/O */
  for (uint32_t off = 0x14; off < 0x28; off += 4) {
    pci_config_write(d, off, 0xffffffff, 4);
    CHECK_EQ(pci_config_read(d, off, 4), 0);
  }
  pci_config_write(d, PCI_ROM_ADDRESS, 0xfffffffe, 4);
  CHECK_EQ(pci_config_read(d, PCI_ROM_ADDRESS, 4), 0);     /* no option ROM */
  ne2k_pci_model.destroy(card);
  const mdev_model *md = mdev_find("ne2k_pci");
  CHECK(md && md->card == &ne2k_pci_model && md->kind == MDEV_NIC);
}

TEST(ne2k_linux_probe_reads_the_prom_in_word_mode) {
  env e;
  env_init(&e);
  uint8_t prom[32];
  probe(&e, prom);
  CHECK(memcmp(prom, mac, 6) == 0);
  /* After the probe's second reset, QEMU's in-place doubling leaves these in PROM bytes 6-13. */
  const uint8_t mid[8] = {mac[3], mac[3], mac[4], mac[4], mac[5], mac[5], 0, 0};
  CHECK(memcmp(prom + 6, mid, 8) == 0);
  CHECK_EQ(prom[14], 0x57);
  CHECK_EQ(prom[15], 0x57);
  for (int i = 16; i < 32; i++) CHECK_EQ(prom[i], 0xff);  /* words past the PROM read all-ones */
  CHECK(inb(&e, ISR) & I_RDC);                             /* 64 bytes moved: RBCR ran out */
  /* The same PROM doubled, read in byte mode: the layout a word-wide card shows. */
  outb(&e, 0x48, DCR);
  outb(&e, 8, RBCR0);
  outb(&e, 0, RSAR0);
  outb(&e, 0, RSAR1);
  outb(&e, RREAD + START, CMD);
  for (int i = 0; i < 8; i++) CHECK_EQ(inb(&e, DATA), mac[i / 2]);
  /* Registers: the RTL8029 ID, page 3 config, wider accesses read all-ones, the reset port 0. */
  outb(&e, NODMA + PAGE0 + STOP, CMD);
  CHECK_EQ(inb(&e, 0x0a), 0x50);
  CHECK_EQ(inb(&e, 0x0b), 0x43);
  CHECK_EQ(in(&e, 0x00, 2), 0xffff);
  CHECK_EQ(in(&e, 0x04, 4), 0xffffffff);
  CHECK_EQ(in(&e, 0x20, 1), 0xff);
  outb(&e, NODMA + PAGE3 + STOP, CMD);
  CHECK_EQ(inb(&e, 0x03), 0x00);
  CHECK_EQ(inb(&e, 0x05), 0x40);
  CHECK_EQ(inb(&e, 0x06), 0x40);
  outb(&e, 0xc0, 0x01);                                     /* set_realtek_fdx: ignored */
  outb(&e, 0x40, 0x06);
  outb(&e, 0x00, 0x01);
  CHECK_EQ(inb(&e, CMD), NODMA + PAGE3 + STOP);
  outb(&e, NODMA + PAGE0 + STOP, CMD);
  CHECK_EQ(inb(&e, RESET), 0);
  CHECK_EQ(counter(&e, "bad_accesses"), 0);
  /* A hart's 8-byte load reaches the card as two 4-byte ones (devices/pci.c): at 0x18 both are
   * registers no driver reads that way, all-ones, and the card never sees a size it lacks. */
  CHECK_EQ(pci_window_ops.read(&e.io, IOBASE + 0x18, 8), UINT64_MAX);
  CHECK_EQ(counter(&e, "bad_accesses"), 0);
  env_fini(&e);
}

/* ---- the data path ---- */

TEST(ne2k_linux_transmit_and_receive) {
  env e;
  env_init(&e);
  linux_up(&e);
  outb(&e, NODMA + PAGE2, CMD);
  CHECK_EQ(inb(&e, PSTART), RX_START);
  CHECK_EQ(inb(&e, PSTOP), RX_STOP);
  outb(&e, NODMA + PAGE0, CMD);
  CHECK_EQ(e.line[1], 0);
  /* Transmit a 98-byte frame: outsl, an outw tail; PTX, TSR and INTA of slot 1. */
  uint8_t f[1700], back[1600];
  frame_to(f, 98, (const uint8_t[6]){0x52, 0x55, 0x0a, 0, 2, 2}, 1);
  xmit(&e, f, 98, TX_START);
  CHECK_EQ(e.s.got, 1);
  CHECK_EQ(e.s.len, 98);
  CHECK(memcmp(e.s.last, f, 98) == 0);
  CHECK_EQ(inb(&e, ISR) & (I_TX | I_RESET), I_TX);
  CHECK_EQ(inb(&e, TSR), 0x01);
  CHECK_EQ(e.line[1], 1);
  CHECK(pci_config_read(e.d, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
  outb(&e, I_TX, ISR);                                      /* W1C */
  CHECK_EQ(inb(&e, ISR), 0);
  CHECK_EQ(e.line[1], 0);
  CHECK_EQ(counter(&e, "tx_frames"), 1);
  /* Receive a short frame (padded to 60) and a full one: headers, next pages, lengths, data. */
  frame_to(f, 42, mac, 2);
  net_port_send(&e.s.port, f, 42);
  CHECK_EQ(e.line[1], 1);
  CHECK_EQ(inb(&e, ISR), I_RX);
  frame_to(f + 100, 1514, mac, 3);
  net_port_send(&e.s.port, f + 100, 1514);
  outb(&e, NODMA + PAGE1, CMD);
  CHECK_EQ(inb(&e, CURR), RX_START + 1 + 6);                /* 64+4 bytes: 1 page; 1518+4: 6 */
  outb(&e, NODMA + PAGE0, CMD);
  hdr h;
  CHECK_EQ(rx_one(&e, back, &h), 60);
  CHECK_EQ(h.status, 0x01);
  CHECK_EQ(h.next, RX_START + 1);
  CHECK_EQ(h.count, 64);
  CHECK(memcmp(back, f, 42) == 0);
  for (int i = 42; i < 60; i++) CHECK_EQ(back[i], 0);
  CHECK_EQ(rx_one(&e, back, &h), 1514);
  CHECK_EQ(h.next, RX_START + 7);
  CHECK(memcmp(back, f + 100, 1514) == 0);
  CHECK_EQ(rx_one(&e, back, &h), 0);
  outb(&e, I_RX | I_RXE, ISR);
  CHECK_EQ(e.line[1], 0);
  /* A frame that wraps at PSTOP: read back through the DMA wrap to PSTART. Fill up to page 0x7d
   * first (sizes chosen to land there), then one of 4 pages from 0x7d runs over 0x80. */
  int sent = 0;
  while (1) {
    outb(&e, NODMA + PAGE1, CMD);
    uint8_t cur = inb(&e, CURR);
    outb(&e, NODMA + PAGE0, CMD);
    if (cur == 0x7d) break;
    frame_to(f, cur + 6 <= 0x7d ? 1514 : 200, mac, (uint8_t)sent);
    net_port_send(&e.s.port, f, cur + 6 <= 0x7d ? 1514 : 200);
    CHECK(rx_one(&e, back, &h) > 0);
    if (++sent > 40) break;
  }
  frame_to(f, 1000, mac, 9);
  net_port_send(&e.s.port, f, 1000);
  CHECK_EQ(rx_one(&e, back, &h), 1000);
  CHECK_EQ(h.next, RX_START + 1);                           /* 0x7d + 4, wrapped */
  CHECK(memcmp(back, f, 1000) == 0);
  CHECK_EQ(counter(&e, "rx_curr_fixed"), 0);
  CHECK_EQ(counter(&e, "bad_registers"), 0);
  /* INTx disable keeps the line down; the ISR still holds the event. */
  net_port_send(&e.s.port, f, 100);
  CHECK_EQ(e.line[1], 1);
  pci_config_write(e.d, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_INTX_DISABLE, 2);
  CHECK_EQ(e.line[1], 0);
  CHECK(inb(&e, ISR) & I_RX);
  env_fini(&e);
}

/* Bit-reverses the low n bits. */
static unsigned rev(unsigned v, int n) {
  unsigned r = 0;
  for (int i = 0; i < n; i++) r |= ((v >> i) & 1u) << (n - 1 - i);
  return r;
}

TEST(ne2k_filter_is_qemus) {
  env e;
  env_init(&e);
  linux_up(&e);
  uint8_t f[100], back[1600];
  hdr h;
  /* Unicast is matched against the PROM, not PAR (as QEMU does). */
  const uint8_t other[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};
  outb(&e, NODMA + PAGE1, CMD);
  for (int i = 0; i < 6; i++) outb(&e, other[i], PAR0 + (uint32_t)i);
  outb(&e, NODMA + PAGE0, CMD);
  frame_to(f, 60, other, 0);
  net_port_send(&e.s.port, f, 60);
  CHECK_EQ(counter(&e, "rx_dropped_filter"), 1);
  frame_to(f, 60, mac, 0);
  net_port_send(&e.s.port, f, 60);
  CHECK_EQ(rx_one(&e, back, &h), 60);
  /* Broadcast with RCR.AB; not without it. */
  const uint8_t bc[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  frame_to(f, 60, bc, 0);
  net_port_send(&e.s.port, f, 60);
  CHECK_EQ(rx_one(&e, back, &h), 60);
  CHECK_EQ(h.status, 0x21);                                 /* RXOK | PHY (group address) */
  outb(&e, 0x00, RCR);
  net_port_send(&e.s.port, f, 60);
  CHECK_EQ(counter(&e, "rx_dropped_filter"), 2);
  /* Multicast through the hash Linux programs: make_mc_bits with ether_crc, computed here from
   * zlib's reflected CRC-32 (ether_crc's top 6 bits = the reversed low 6 of the raw register). */
  const uint8_t mc[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01}, mc2[6] = {0x01, 0x00, 0x5e, 0, 0, 0xfb};
  unsigned idx = rev((unsigned)~crc32(0, mc, 6) & 0x3f, 6);
  outb(&e, NODMA + PAGE1, CMD);
  outb(&e, (uint8_t)(1u << (idx & 7)), MAR0 + (idx >> 3));
  outb(&e, NODMA + PAGE0, CMD);
  outb(&e, 0x0c, RCR);
  frame_to(f, 60, mc, 0);
  net_port_send(&e.s.port, f, 60);
  CHECK_EQ(rx_one(&e, back, &h), 60);
  unsigned idx2 = rev((unsigned)~crc32(0, mc2, 6) & 0x3f, 6);
  CHECK(idx2 != idx);
  frame_to(f, 60, mc2, 0);
  net_port_send(&e.s.port, f, 60);
  CHECK_EQ(counter(&e, "rx_dropped_filter"), 3);
  outb(&e, 0x04, RCR);
  frame_to(f, 60, mc, 0);
  net_port_send(&e.s.port, f, 60);                          /* AM off */
  CHECK_EQ(counter(&e, "rx_dropped_filter"), 4);
  /* Promiscuous takes anything. */
  outb(&e, 0x10, RCR);
  frame_to(f, 60, other, 0);
  net_port_send(&e.s.port, f, 60);
  CHECK_EQ(rx_one(&e, back, &h), 60);
  CHECK_EQ(counter(&e, "rx_frames"), 4);
  env_fini(&e);
}

TEST(ne2k_remote_dma_as_qemu_decodes_it) {
  env e;
  env_init(&e);
  linux_up(&e);
  /* A zero-byte remote DMA completes at once. */
  outb(&e, I_RDC, ISR);
  outb(&e, 0, RBCR0);
  outb(&e, 0, RBCR1);
  outb(&e, RREAD + START, CMD);
  CHECK(inb(&e, ISR) & I_RDC);
  CHECK_EQ(e.line[1], 0);                                   /* RDC is not in ENISR_ALL */
  outb(&e, I_RDC, ISR);
  /* Word mode: an outb writes a word (its low byte, high 0) and moves 2; inw reads a word. */
  outb(&e, 0x49, DCR);
  outb(&e, 4, RBCR0);
  outb(&e, 0x00, RSAR0);
  outb(&e, 0x60, RSAR1);
  outb(&e, RWRITE + START, CMD);
  out(&e, DATA, 0xabcd, 1);
  out(&e, DATA, 0x1234, 2);
  CHECK(inb(&e, ISR) & I_RDC);
  outb(&e, 0x00, RSAR0);
  outb(&e, RREAD + START, CMD);
  CHECK_EQ(in(&e, DATA, 2), 0x00cd);
  CHECK_EQ(in(&e, DATA, 2), 0x1234);
  outb(&e, NODMA + PAGE0 + START, CMD);
  CHECK_EQ(inb(&e, RSAR0), 4);                              /* CRDA: where DMA stands */
  CHECK_EQ(inb(&e, RSAR1), 0x60);
  /* Byte mode: inw moves one byte. Odd RSAR: words come from the even address below. */
  outb(&e, 0x48, DCR);
  outb(&e, 0x01, RSAR0);
  outb(&e, 2, RBCR0);
  outb(&e, RREAD + START, CMD);
  CHECK_EQ(in(&e, DATA, 2), 0x00);
  CHECK_EQ(in(&e, DATA, 1), 0x34);
  outb(&e, 0x49, DCR);
  outb(&e, 0x01, RSAR0);
  outb(&e, RREAD + START, CMD);
  CHECK_EQ(in(&e, DATA, 2), 0x00cd);
  /* DMA wraps from PSTOP to PSTART. */
  outb(&e, 0xfc, RSAR0);
  outb(&e, RX_STOP - 1, RSAR1);
  outb(&e, 8, RBCR0);
  outb(&e, RWRITE + START, CMD);
  out(&e, DATA, 0x11111111, 4);
  out(&e, DATA, 0x22222222, 4);
  outb(&e, NODMA + PAGE0 + START, CMD);
  CHECK_EQ(inb(&e, RSAR1), RX_START);
  CHECK_EQ(inb(&e, RSAR0), 4);
  uint8_t b[4];
  block_input(&e, b, 4, (uint32_t)RX_START << 8);
  CHECK_EQ(b[0], 0x22);
  /* Writes with RBCR at 0 are dropped; the gap below packet RAM reads all-ones, drops writes. */
  outb(&e, 0, RBCR0);
  outb(&e, 0, RBCR1);
  outb(&e, 0x00, RSAR0);
  outb(&e, 0x60, RSAR1);
  outb(&e, RWRITE + START, CMD);
  out(&e, DATA, 0x5555, 2);
  outb(&e, 0x20, RSAR1);
  outb(&e, 2, RBCR0);
  outb(&e, RWRITE + START, CMD);
  out(&e, DATA, 0x5555, 2);
  block_input(&e, b, 4, 0x6000);
  CHECK_EQ(b[0], 0xcd);
  block_input(&e, b, 4, 0x2000);
  CHECK_EQ(b[0], 0xff);
  CHECK_EQ(b[3], 0xff);
  env_fini(&e);
}

TEST(ne2k_full_ring_holds_frames_until_bnry_moves) {
  env e;
  env_init(&e);
  linux_up(&e);
  uint8_t f[1514], back[1600];
  hdr h;
  /* 52 pages, 51 free (BNRY = 0x7f, CURR = 0x4c); 1514-byte frames take 6: 8 fit, the 9th waits. */
  for (int i = 0; i < 11; i++) {
    frame_to(f, sizeof f, mac, (uint8_t)i);
    net_port_send(&e.s.port, f, sizeof f);
  }
  CHECK_EQ(counter(&e, "rx_frames"), 8);
  CHECK_EQ(counter(&e, "rx_held"), 1);
  CHECK_EQ(e.n->port.qlen, 3);
  CHECK_EQ(e.n->port.rx.drops, 0);
  outb(&e, NODMA + PAGE1, CMD);
  CHECK_EQ(inb(&e, CURR), RX_START + 48);
  outb(&e, NODMA + PAGE0, CMD);
  /* The driver takes one: BNRY moves 6 pages. Once its access is over (not inside it), one more
   * frame goes in; the next waits again. */
  CHECK_EQ(rx_one(&e, back, &h), 1514);
  CHECK_EQ(back[14], (uint8_t)(0 + 14 * 7));
  CHECK_EQ(counter(&e, "rx_frames"), 8);
  CHECK_EQ(e.n->port.qlen, 3);
  settle(&e);
  CHECK_EQ(counter(&e, "rx_frames"), 9);
  CHECK_EQ(e.n->port.qlen, 2);
  CHECK_EQ(counter(&e, "rx_held"), 2);
  /* Draining the ring delivers everything, in order. */
  int n = 1;
  while (rx_one(&e, back, &h) > 0) {
    CHECK_EQ(back[14], (uint8_t)(n + 14 * 7));
    n++;
    settle(&e);
  }
  CHECK_EQ(n, 11);
  CHECK_EQ(e.n->port.qlen, 0);
  CHECK_EQ(e.n->port.rx.frames, 11);
  /* A stopped card drops (as on QEMU) and throws away what waited. */
  for (int i = 0; i < 10; i++) net_port_send(&e.s.port, f, sizeof f);
  CHECK(e.n->port.qlen > 0);
  outb(&e, NODMA + PAGE0 + STOP, CMD);
  settle(&e);
  CHECK_EQ(e.n->port.qlen, 0);
  uint64_t stopped = counter(&e, "rx_dropped_stopped");
  CHECK(stopped > 0);
  net_port_send(&e.s.port, f, sizeof f);
  CHECK_EQ(counter(&e, "rx_dropped_stopped"), stopped + 1);
  /* Link down: the port drops, the card hears nothing of it. */
  outb(&e, NODMA + PAGE0 + START, CMD);
  nic_set_link(e.n, 0);
  uint64_t frames = counter(&e, "rx_frames");
  net_port_send(&e.s.port, f, 60);
  CHECK_EQ(counter(&e, "rx_frames"), frames);
  nic_set_link(e.n, 1);
  env_fini(&e);
}

/* ---- QEMU's CVEs, driven as their exploits drove QEMU ---- */

/* Fills packet RAM with a marker byte, through remote DMA (the ring all of it, so DMA does not
 * wrap on the way). */
static void mark(env *e, uint8_t m) {
  static uint8_t buf[0x8000];
  memset(buf, m, sizeof buf);
  outb(e, 0x40, PSTART);
  outb(e, 0xc0, PSTOP);
  poke(e, 0x4000, buf, 0x4000);
  poke(e, 0x8000, buf, 0x4000);
}

/* How many bytes of [from, to) no longer hold the marker. */
static int changed(env *e, uint32_t from, uint32_t to, uint8_t m) {
  static uint8_t buf[0x8000];
  block_input(e, buf, (int)(to - from), from);
  int n = 0;
  for (uint32_t i = 0; i < to - from; i++) n += buf[i] != m;
  return n;
}

TEST(ne2k_cve_2015_5278_receive_loop_ends) {
  /* The exploit: CURR past PSTOP (CURR 0x50, ring 0x40..0x48) made QEMU's copy loop see no room
   * at every turn and never end. Here CURR is put back at PSTART and the frame stays in the ring. */
  env e;
  env_init(&e);
  linux_up(&e);
  outb(&e, NODMA + PAGE0 + STOP, CMD);
  mark(&e, 0xee);
  outb(&e, 0x40, PSTART);
  outb(&e, 0x48, PSTOP);
  outb(&e, 0x47, BNRY);
  outb(&e, NODMA + PAGE1 + STOP, CMD);
  outb(&e, 0x50, CURR);
  outb(&e, NODMA + PAGE0 + START, CMD);
  uint8_t f[1514];
  frame_to(f, sizeof f, mac, 5);
  net_port_send(&e.s.port, f, sizeof f);
  CHECK_EQ(counter(&e, "rx_curr_fixed"), 1);
  CHECK_EQ(counter(&e, "rx_frames"), 1);
  outb(&e, NODMA + PAGE1, CMD);
  CHECK_EQ(inb(&e, CURR), 0x46);                            /* 0x40 + 6 */
  outb(&e, NODMA + PAGE0, CMD);
  CHECK_EQ(changed(&e, 0x4800, 0xc000, 0xee), 0);           /* nothing past PSTOP */
  /* PSTOP moved under CURR after the fact: the same. */
  outb(&e, 0x44, PSTOP);
  outb(&e, 0x43, BNRY);
  frame_to(f, 200, mac, 6);
  net_port_send(&e.s.port, f, 200);
  CHECK_EQ(counter(&e, "rx_curr_fixed"), 2);
  CHECK_EQ(changed(&e, 0x4800, 0xc000, 0xee), 0);
  /* A ring of one page: every frame needs more, so none is held forever. */
  outb(&e, 0x41, PSTOP);
  net_port_send(&e.s.port, f, 60);
  CHECK_EQ(counter(&e, "rx_dropped_ring"), 1);
  CHECK_EQ(e.n->port.qlen, 0);
  env_fini(&e);
}

TEST(ne2k_cve_2015_5279_ring_pointers_past_packet_ram) {
  /* The exploit: CURR (and PSTART/PSTOP) set past the 48 KiB, so the header and data went beyond
   * QEMU's array. Those writes are refused; the ring at the very end of packet RAM wraps inside. */
  env e;
  env_init(&e);
  linux_up(&e);
  outb(&e, NODMA + PAGE0 + STOP, CMD);
  outb(&e, 0xc1, PSTART);
  outb(&e, 0xff, PSTOP);
  outb(&e, 0xc0, BNRY);
  outb(&e, NODMA + PAGE1 + STOP, CMD);
  outb(&e, 0xff, CURR);
  outb(&e, 0xc0, CURR);
  CHECK_EQ(inb(&e, CURR), RX_START);                        /* kept */
  outb(&e, NODMA + PAGE2 + STOP, CMD);
  CHECK_EQ(inb(&e, PSTART), RX_START);
  CHECK_EQ(inb(&e, PSTOP), RX_STOP);
  outb(&e, NODMA + PAGE0 + STOP, CMD);
  CHECK_EQ(inb(&e, BNRY), RX_STOP - 1);
  CHECK_EQ(counter(&e, "bad_registers"), 5);
  /* The whole of packet RAM as the ring, CURR on its last page: a full frame wraps to 0x40. */
  outb(&e, 0x40, PSTART);
  outb(&e, 0xc0, PSTOP);
  outb(&e, 0xbe, BNRY);
  outb(&e, NODMA + PAGE1 + STOP, CMD);
  outb(&e, 0xbf, CURR);
  outb(&e, NODMA + PAGE0 + START, CMD);
  uint8_t f[1514], back[1514];
  frame_to(f, sizeof f, mac, 7);
  net_port_send(&e.s.port, f, sizeof f);
  CHECK_EQ(counter(&e, "rx_frames"), 1);
  outb(&e, NODMA + PAGE1, CMD);
  CHECK_EQ(inb(&e, CURR), 0x45);                            /* 0xbf + 6 - 0x80 */
  outb(&e, NODMA + PAGE0, CMD);
  block_input(&e, back, sizeof back, 0xbf04);               /* DMA wraps as the copy did */
  CHECK(memcmp(back, f, sizeof f) == 0);
  CHECK_EQ(counter(&e, "rx_curr_fixed"), 0);
  env_fini(&e);
}

TEST(ne2k_cve_2016_2841_stop_not_above_start) {
  /* The exploit: PSTOP <= PSTART made QEMU's free-space sum negative and its receive loop spin.
   * Such a ring takes nothing: frames are dropped and counted, never held. */
  env e;
  env_init(&e);
  linux_up(&e);
  outb(&e, 0x80, PSTART);
  outb(&e, 0x40, PSTOP);
  uint8_t f[200];
  frame_to(f, sizeof f, mac, 8);
  net_port_send(&e.s.port, f, sizeof f);
  outb(&e, 0x60, PSTART);
  outb(&e, 0x60, PSTOP);
  net_port_send(&e.s.port, f, sizeof f);
  CHECK_EQ(counter(&e, "rx_dropped_ring"), 2);
  CHECK_EQ(counter(&e, "rx_frames"), 0);
  CHECK_EQ(e.n->port.qlen, 0);
  /* Values past packet RAM are refused, not stored (0xc0 as PSTART/PSTOP is its end: allowed). */
  outb(&e, 0xc0, PSTART);
  outb(&e, 0xc1, PSTOP);
  outb(&e, 0xc0, BNRY);
  CHECK_EQ(counter(&e, "bad_registers"), 2);
  outb(&e, NODMA + PAGE2, CMD);
  CHECK_EQ(inb(&e, PSTART), 0xc0);
  CHECK_EQ(inb(&e, PSTOP), 0x60);
  outb(&e, NODMA + PAGE0, CMD);
  net_port_send(&e.s.port, f, sizeof f);
  CHECK_EQ(counter(&e, "rx_dropped_ring"), 3);
  /* A fresh card (CMD 0: not stopped, no ring) drops too: it holds no queue. */
  void *card = ne2k_pci_model.create(mac, "fresh", NULL);
  nic *n = ne2k_pci_model.nic(card);
  net_port_attach(&n->port, e.hub);
  net_port_send(&e.s.port, f, sizeof f);
  CHECK_EQ(n->port.qlen, 0);
  ne2k_pci_model.destroy(card);
  env_fini(&e);
}

TEST(ne2k_cve_2018_10839_frame_sizes) {
  /* The class: a frame length near the limits, or larger than the ring, wrapped a signed size and
   * overran. Sizes are size_t; past 1518 bytes or the ring a frame is dropped and counted. */
  env e;
  env_init(&e);
  linux_up(&e);
  static uint8_t f[65535];
  uint8_t back[1600];
  hdr h;
  frame_to(f, sizeof f, mac, 9);
  net_port_send(&e.s.port, f, sizeof f);                    /* NET_FRAME_MAX */
  net_port_send(&e.s.port, f, 1519);
  CHECK_EQ(counter(&e, "rx_dropped_oversize"), 2);
  net_port_send(&e.s.port, f, 1518);
  CHECK_EQ(rx_one(&e, back, &h), 1518);
  CHECK_EQ(h.count, 1522);
  CHECK(memcmp(back, f, 1518) == 0);
  /* A 5-page ring cannot take a 6-page frame: dropped, not held for ever. */
  outb(&e, NODMA + PAGE0 + STOP, CMD);
  outb(&e, 0x40, PSTART);
  outb(&e, 0x45, PSTOP);
  outb(&e, 0x44, BNRY);
  outb(&e, NODMA + PAGE1 + STOP, CMD);
  outb(&e, 0x40, CURR);
  outb(&e, NODMA + PAGE0 + START, CMD);
  net_port_send(&e.s.port, f, 1514);
  CHECK_EQ(counter(&e, "rx_dropped_ring"), 1);
  CHECK_EQ(e.n->port.qlen, 0);
  net_port_send(&e.s.port, f, 60);                          /* one page: fits */
  CHECK_EQ(counter(&e, "rx_frames"), 2);
  /* Transmit: 0 bytes, 0xffff bytes, past packet RAM, below it: refused, yet PTX as on QEMU. */
  static const struct { uint8_t page; uint16_t len; } bad[] = {
    {0x40, 0}, {0x40, 0xffff}, {0x40, 13}, {0x40, 1519}, {0xbf, 0x200}, {0x00, 100}, {0x3f, 300},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    outb(&e, (uint8_t)bad[i].len, TBCR0);
    outb(&e, (uint8_t)(bad[i].len >> 8), TBCR1);
    outb(&e, bad[i].page, TPSR);
    outb(&e, NODMA + TRANS + START, CMD);
    CHECK(inb(&e, ISR) & I_TX);
    outb(&e, I_TX, ISR);
  }
  CHECK_EQ(counter(&e, "tx_refused"), sizeof bad / sizeof bad[0]);
  CHECK_EQ(e.s.got, 0);
  /* TPSR past packet RAM wraps down 32 KiB (QEMU's NetWare hack): 0xc0 sends from 0x40. */
  outb(&e, 60, TBCR0);
  outb(&e, 0, TBCR1);
  outb(&e, 0xc0, TPSR);
  outb(&e, NODMA + TRANS + START, CMD);
  CHECK_EQ(e.s.got, 1);
  CHECK_EQ(counter(&e, "tx_frames"), 1);
  env_fini(&e);
}

TEST(ne2k_cve_2015_8743_long_data_port_at_the_end) {
  /* The exploit: 32-bit data-port accesses with RSAR at the last bytes of memory read and wrote past
   * QEMU's array. Here a long must fit wholly; one that would not reads all-ones, writes nothing. */
  env e;
  env_init(&e);
  linux_up(&e);
  outb(&e, NODMA + PAGE0 + STOP, CMD);
  outb(&e, 0x40, PSTART);
  outb(&e, 0xc0, PSTOP);
  static const uint16_t at[] = {0xbffc, 0xbffe, 0xbfff, 0xffff, 0xfffe};
  for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
    outb(&e, (uint8_t)at[i], RSAR0);
    outb(&e, (uint8_t)(at[i] >> 8), RSAR1);
    outb(&e, 8, RBCR0);
    outb(&e, 0, RBCR1);
    outb(&e, RWRITE + START, CMD);
    out(&e, DATA, 0xa5a5a5a5, 4);
    out(&e, DATA, 0x5a5a5a5a, 4);
    outb(&e, (uint8_t)at[i], RSAR0);
    outb(&e, (uint8_t)(at[i] >> 8), RSAR1);
    outb(&e, RREAD + START, CMD);
    uint32_t v = in(&e, DATA, 4), w = in(&e, DATA, 4);
    if (at[i] == 0xbffc) {
      CHECK_EQ(v, 0xa5a5a5a5);                              /* the last long of the memory */
      CHECK_EQ(w, 0x5a5a5a5a);                              /* RSAR hit PSTOP: wrapped to 0x40 */
    } else {
      CHECK_EQ(v, 0xffffffff);
    }
  }
  /* RSAR counting on past 0xffff (32 bits, as on QEMU) reads all-ones, never wraps into the PROM. */
  outb(&e, 0xfc, RSAR0);
  outb(&e, 0xff, RSAR1);
  outb(&e, RREAD + START, CMD);
  CHECK_EQ(in(&e, DATA, 4), 0xffffffff);
  CHECK_EQ(in(&e, DATA, 4), 0xffffffff);
  CHECK_EQ(in(&e, DATA, 2), 0xffff);
  /* The PROM end: a long from 30 is the last PROM word and 2 bytes of zeros, as on QEMU. */
  outb(&e, 30, RSAR0);
  outb(&e, 0, RSAR1);
  outb(&e, RREAD + START, CMD);
  CHECK_EQ(in(&e, DATA, 4), 0x00005757);
  /* A 64-bit store to the data port is two 32-bit ones (devices/pci.c): the first moves remote
   * DMA on at the end of memory, where nothing is written, the second is not a register. */
  pci_window_ops.write(&e.io, IOBASE + DATA, 0, 8);
  CHECK_EQ(counter(&e, "bad_accesses"), 0);
  env_fini(&e);
}

TEST(ne2k_pci_reset_resets_the_chip) {
  env e;
  env_init(&e);
  linux_up(&e);
  uint8_t f[1514];
  frame_to(f, sizeof f, mac, 1);
  for (int i = 0; i < 10; i++) net_port_send(&e.s.port, f, sizeof f);
  CHECK(e.n->port.qlen > 0);
  CHECK_EQ(e.line[1], 1);
  pci_dev_reset(e.d);
  settle(&e);
  CHECK_EQ(e.line[1], 0);
  CHECK_EQ(e.n->port.qlen, 0);                              /* no ring any more: dropped */
  pci_config_write(e.d, PCI_BAR0, IOBASE, 4);
  pci_config_write(e.d, PCI_COMMAND, PCI_COMMAND_IO, 2);
  CHECK_EQ(inb(&e, ISR), I_RESET);
  CHECK_EQ(inb(&e, CMD), 0);
  uint8_t prom[32];
  probe(&e, prom);
  CHECK(memcmp(prom, mac, 6) == 0);
  env_fini(&e);
}

/* ---- through the registry, on the virt board's PCIe host ---- */

static void put_sum(void *ud, const char *name, uint64_t v) { (void)name; *(uint64_t *)ud += v; }

TEST(ne2k_pci_on_the_board_through_the_registry) {
  /* What -device ne2k_pci does, then port accesses of each width through the CPU's view of the I/O
   * window at 0x03000000 (Linux's inb/inw/inl there), and INTA on PLIC source 33. */
  const char *err0;
  lemu_rt *rt = lemu_rt_new(&err0);
  machine_config cfg = {.bios = "none", .ram_size = 256ull << 20};
  char err[512];
  machine *m = machine_new(rt, &cfg, NULL, err, sizeof err);
  CHECK(m != NULL);
  if (!m) { lemu_rt_free(rt); return; }
  const mdev_model *md = mdev_find("ne2k_pci");
  mdev_params p = {.mac = {0x52, 0x54, 0, 0x12, 0x34, 0x57}, .addr = -1};
  CHECK_EQ(md->plug(m, md, &p, err, sizeof err), 0);
  bus *b = machine_bus(m);
  uint64_t v = 0;
  bus_read(b, 0x30008000, 4, &v);
  CHECK_EQ(v, 0x802910ec);
  bus_write(b, 0x30008010, 4, 0x100);              /* BAR0 at port 0x100, as Linux put it */
  bus_write(b, 0x30008004, 2, PCI_COMMAND_IO);
  const uint64_t io = 0x03000100;
  bus_read(b, io + 0x0a, 1, &v);
  CHECK_EQ(v, 0x50);
  bus_read(b, io + 0x00, 2, &v);
  CHECK_EQ(v, 0xffff);                             /* a word at a register: all-ones */
  bus_write(b, io + 0x0e, 1, 0x49);                /* word mode; PROM by inw and inl */
  bus_write(b, io + 0x0a, 1, 8);
  bus_write(b, io + 0x08, 1, 0);
  bus_write(b, io + 0x09, 1, 0);
  bus_write(b, io + 0x00, 1, RREAD + START);
  bus_read(b, io + 0x10, 2, &v);
  CHECK_EQ(v, 0x5252);
  bus_read(b, io + 0x10, 4, &v);
  CHECK_EQ(v, 0x00005454);
  bus_read(b, io + 0x10, 1, &v);
  CHECK_EQ(v, 0x12);
  bus_read(b, io + 0x07, 1, &v);
  CHECK(v & I_RDC);
  bus_write(b, io + 0x0f, 1, I_RDC);               /* unmask RDC: INTA of slot 1 = PLIC 33 */
  bus_read(b, 0x0c001004, 4, &v);
  CHECK_EQ(v, 1u << 1);
  bus_write(b, io + 0x07, 1, 0xff);
  bus_read(b, 0x0c001004, 4, &v);
  CHECK_EQ(v, 0);
  bus_read(b, io + 0x20, 4, &v);                   /* inside the BAR, no register */
  CHECK_EQ(v, 0xffffffff);
  bus_read(b, io + 0x100, 1, &v);                  /* past it: nothing decodes */
  CHECK_EQ(v, 0xff);
  uint64_t sum = 0;
  mdev_counters(m, 0, put_sum, &sum);
  CHECK_EQ(sum, 0);
  machine_close(m);
  lemu_rt_free(rt);
}

/* ---- a guest writing anything anywhere ---- */

static uint32_t rnd_state = 12345;
static uint32_t rnd(void) {                        /* xorshift32: the same run every time */
  rnd_state ^= rnd_state << 13;
  rnd_state ^= rnd_state >> 17;
  rnd_state ^= rnd_state << 5;
  return rnd_state;
}

TEST(ne2k_random_guest_stays_inside_the_card) {
  /* Random values at random ports and widths, resets, frames of any size, the clock running now
   * and then: every receive and every DMA ends, nothing outside the card's memory is touched (ASan),
   * the port's queue stays bounded. */
  env e;
  env_init(&e);
  linux_up(&e);
  static uint8_t f[4000];
  for (size_t i = 0; i < sizeof f; i++) f[i] = (uint8_t)rnd();
  memcpy(f, mac, 6);
  for (int i = 0; i < 200000; i++) {
    uint32_t r = rnd();
    switch (r % 16) {
    case 0: case 1: case 2: case 3: case 4: case 5: case 6: {
      /* page-selecting CMD values, pointer registers, and the page 0 / 1 files */
      uint32_t port = (r >> 4) % 16, v = r >> 12;
      if (port == 0 && (v & 1) && (r & 0x100)) v &= ~1u;   /* keep the card running often */
      outb(&e, (uint8_t)v, port);
      break;
    }
    case 7: case 8: case 9: {
      static const int w[] = {1, 2, 4, 8};
      int size = w[(r >> 4) & 3];
      if (r & 0x40) out(&e, DATA, rnd(), size);
      else (void)pci_window_ops.read(&e.io, IOBASE + DATA, size);
      break;
    }
    case 10: (void)in(&e, (r >> 4) & 0xff, 1 << ((r >> 12) % 3)); break;
    case 11: case 12: case 13: {
      size_t len = 14 + (r >> 4) % (sizeof f - 14);
      if (r & 0x10000) memcpy(f, mac, 6);
      else f[0] = (uint8_t)(r >> 20);
      net_port_send(&e.s.port, f, len);
      break;
    }
    case 14: settle(&e); break;
    case 15: if ((r >> 4) % 64 == 0) (void)inb(&e, RESET); else settle(&e); break;
    }
    CHECK(e.n->port.qlen <= 1024);
  }
  settle(&e);
  /* The run reached what it is meant to (counts from this seed: 2810 frames in, 359 held, 436
   * CURRs put back, 1259 pointer writes refused, 1976 transmits refused). */
  CHECK(counter(&e, "rx_frames") > 0);
  CHECK(counter(&e, "rx_held") > 0);
  CHECK(counter(&e, "rx_curr_fixed") > 0);
  CHECK(counter(&e, "tx_refused") > 0);
  CHECK(counter(&e, "bad_registers") > 0);
  env_fini(&e);
}
