/* test_rtl8139: the RTL8139C+ model driven the way Linux's 8139cp drives it (EEPROM bit-banging
 * and its address-width probe, reset, unlock, the C+ rings, interrupts, link, tally dump), frames
 * held while the driver has not refilled its ring, and one test per QEMU CVE class, driving the
 * model as the exploit did: every walk ends, nothing outside guest RAM or the frame is touched,
 * and each refusal is counted. */
#include <string.h>
#include <zlib.h>

#include "bus.h"
#include "ctest.h"
#include "dtimer.h"
#include "nic.h"
#include "pci.h"
#include "port.h"
#include "rt.h"
#include "rtl8139.h"

#define RAM 0x80000000ull
#define RAMSZ 0x100000ull
#define IOBASE 0x1000
#define MEMBASE 0x40000000ull
#define RXRING (RAM + 0x1000)
#define TXRING (RAM + 0x2000)
#define TALLY (RAM + 0x3000)
#define TXBUFS (RAM + 0x10000)
#define RXBUFS (RAM + 0x40000)

/* Registers and bits as 8139cp names them. */
enum {
  IDR0 = 0x00, MAR0 = 0x08, DTCCR = 0x10, TXADDR = 0x20, CMD = 0x37, IMR = 0x3c, ISR = 0x3e,
  TXCONFIG = 0x40, RXCONFIG = 0x44, CFG9346 = 0x50, CONFIG1 = 0x52, MEDIA = 0x58, BMCR = 0x62,
  BMSR = 0x64, ANAR = 0x66, ANLPAR = 0x68, TXPOLL = 0xd9, CPCMD = 0xe0, RXRING_LO = 0xe4,
  RXRING_HI = 0xe8, TXTHRESH = 0xec, CAPR = 0x38, RXBUF = 0x30, TXSTATUS = 0x10,
};
#define OWN (1u << 31)
#define EOR (1u << 30)
#define FS (1u << 29)
#define LS (1u << 28)
#define CP_INTR_MASK 0x80fd           /* RxOK RxErr RxEmpty RxFIFOOvr PciErr LinkChg TxOK TxErr TxEmpty */

typedef struct sink {
  net_port port;
  int got;
  size_t len;
  uint8_t last[70000];
  int echo;                           /* answer each frame with echo_frame */
  const uint8_t *echo_frame;
  size_t echo_len;
} sink;

typedef struct env {
  lemu_rt *rt;
  bus *b;
  uint8_t *ram;
  pci_bus *pb;
  int line[4];
  pci_window io, mem;
  net_hub *hub;
  dtimer_clock clock;
  uint64_t now;
  void *card;
  pci_dev *d;
  nic *n;
  sink s;
} env;

static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x57};

static uint64_t env_now(void *ud) { return ((env *)ud)->now; }
static void on_intx(void *ud, int line, int level) { ((env *)ud)->line[line] = level; }

static int sink_rx(net_port *p, net_frame *f) {
  sink *s = p->owner;
  s->got++;
  s->len = f->len < sizeof s->last ? f->len : sizeof s->last;
  memcpy(s->last, f->data, s->len);
  if (s->echo) net_port_send(&s->port, s->echo_frame, s->echo_len);
  return 1;
}
static const net_port_ops sink_ops = {"sink", sink_rx};

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
  dtimer_clock_init(&e->clock, env_now, NULL, e);
  e->card = rtl8139_model.create(mac, "rtl", &e->clock);
  e->d = rtl8139_model.pci(e->card);
  e->n = rtl8139_model.nic(e->card);
  net_port_attach(&e->n->port, e->hub);
  net_port_init(&e->s.port, &sink_ops, &e->s, "sink");
  net_port_attach(&e->s.port, e->hub);
  static pci_dev host;
  static const pci_id hid = {0x1b36, 0x0008, 0, 0x060000, 0x1af4, 0x1100, 0};
  pci_dev_init(&host, &hid, NULL, NULL, "host");
  pci_bus_plug(e->pb, &host, 0);
  CHECK_EQ(pci_bus_plug(e->pb, e->d, -1), 8);                /* slot 1: INTA on line 1 */
}

static void env_fini(env *e) {
  net_port_detach(&e->s.port);
  pci_bus_free(e->pb);
  rtl8139_model.destroy(e->card);
  bus_free(e->b);
  lemu_rt_free(e->rt);
}

static uint32_t cfg(env *e, uint32_t off, int size) { return pci_config_read(e->d, off, size); }
static void setcfg(env *e, uint32_t off, uint32_t v, int size) { pci_config_write(e->d, off, v, size); }
/* Linux maps BAR1; the I/O BAR decodes the same registers. */
static uint32_t rd(env *e, uint32_t off, int size) {
  return (uint32_t)pci_window_ops.read(&e->mem, MEMBASE + off, size);
}
static void wr(env *e, uint32_t off, uint32_t v, int size) { pci_window_ops.write(&e->mem, MEMBASE + off, v, size); }
static uint32_t io_rd(env *e, uint32_t off, int size) {
  return (uint32_t)pci_window_ops.read(&e->io, IOBASE + off, size);
}
static void io_wr(env *e, uint32_t off, uint32_t v, int size) { pci_window_ops.write(&e->io, IOBASE + off, v, size); }
static uint8_t *gp(env *e, uint64_t pa) { return e->ram + (pa - RAM); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void desc(env *e, uint64_t pa, uint32_t opts1, uint32_t opts2, uint64_t buf) {
  uint8_t *d = gp(e, pa);
  put32(d, opts1);
  put32(d + 4, opts2);
  put32(d + 8, (uint32_t)buf);
  put32(d + 12, (uint32_t)(buf >> 32));
}

typedef struct cnt { const char *name; uint64_t v; int found; } cnt;
static void find_counter(void *ud, const char *name, uint64_t v) {
  cnt *c = ud;
  if (strcmp(c->name, name) == 0) { c->v = v; c->found = 1; }
}
static uint64_t counter(env *e, const char *name) {
  cnt c = {name, 0, 0};
  rtl8139_model.counters(e->card, find_counter, &c);
  CHECK(c.found);
  return c.v;
}

/* 8139cp's read_eeprom: a READ command of 3 + addr_len bits, then 16 bits clocked out. */
static uint16_t ee_read(env *e, unsigned loc, int addr_len) {
  enum { ENB = 0x80 | 0x08, SK = 0x04, DI = 0x02 };
  unsigned cmd = (6u << addr_len) | loc;
  wr(e, CFG9346, ENB & ~0x08, 1);
  wr(e, CFG9346, ENB, 1);
  for (int i = 2 + addr_len; i >= 0; i--) {
    unsigned dv = (cmd >> i) & 1 ? DI : 0;
    wr(e, CFG9346, ENB | dv, 1);
    wr(e, CFG9346, ENB | dv | SK, 1);
  }
  wr(e, CFG9346, ENB, 1);
  uint16_t v = 0;
  for (int i = 0; i < 16; i++) {
    wr(e, CFG9346, ENB | SK, 1);
    v = (uint16_t)(v << 1 | (rd(e, CFG9346, 1) & 1));
    wr(e, CFG9346, ENB, 1);
  }
  wr(e, CFG9346, 0, 1);
  return v;
}

/* What firmware/Linux PCI setup and 8139cp's cp_init_hw + cp_start_hw do; rings at RXRING/TXRING,
 * n RX descriptors owned by the card (the last with EOR if eor). */
static void bring_up(env *e, int nrx, int eor, uint32_t rxcfg) {
  setcfg(e, 0x10, IOBASE, 4);
  setcfg(e, 0x14, (uint32_t)MEMBASE, 4);
  setcfg(e, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
  for (int i = 0; i < 64; i++)
    desc(e, RXRING + 16u * (unsigned)i, i < nrx ? OWN | (eor && i == nrx - 1 ? EOR : 0) | 1536 : 0, 0,
         RXBUFS + 0x800u * (unsigned)i);
  memset(gp(e, TXRING), 0, 64 * 16);
  wr(e, CMD, 0x10, 1);
  CHECK_EQ(rd(e, CMD, 1) & 0x10, 0);                         /* RST self-clears at once */
  wr(e, CFG9346, 0xc0, 1);
  wr(e, IDR0, get32(mac), 4);
  wr(e, IDR0 + 4, (uint32_t)(mac[4] | mac[5] << 8), 4);
  wr(e, CPCMD, 0x2b, 2);                                     /* PCIMulRW RxChkSum CpRxOn CpTxOn */
  wr(e, 0x28, 0, 4);
  wr(e, 0x2c, 0, 4);
  wr(e, RXRING_LO, (uint32_t)RXRING, 4);
  wr(e, RXRING_HI, 0, 4);
  wr(e, TXADDR, (uint32_t)TXRING, 4);
  wr(e, TXADDR + 4, 0, 4);
  wr(e, CMD, 0x0c, 1);                                       /* RxOn TxOn */
  wr(e, TXTHRESH, 6, 1);
  wr(e, RXCONFIG, (5u << 13) | (4u << 8) | rxcfg, 4);
  wr(e, MAR0, 0, 4);
  wr(e, MAR0 + 4, 0, 4);
  wr(e, TXCONFIG, (3u << 24) | (6u << 8), 4);
  wr(e, CONFIG1, rd(e, CONFIG1, 1) | 0x21, 1);
  wr(e, CFG9346, 0, 1);
  wr(e, IMR, CP_INTR_MASK, 2);
}

static uint8_t frame[60] = {0x02, 0, 0, 0, 0, 9, 0x52, 0x54, 0, 0x12, 0x34, 0x57, 0x88, 0xb5, 'h', 'i'};

/* Queues one single-fragment frame at TX descriptor i (8139cp's start_xmit) and polls. */
static void xmit(env *e, unsigned i, const void *data, size_t len, uint32_t flags) {
  memcpy(gp(e, TXBUFS + 0x1000u * i), data, len);
  desc(e, TXRING + 16u * i, OWN | FS | LS | flags | (uint32_t)len, 0, TXBUFS + 0x1000u * i);
  wr(e, TXPOLL, 0x40, 1);
}

TEST(rtl8139_config_space_is_qemus) {
  env e;
  env_init(&e);
  CHECK_EQ(cfg(&e, 0x00, 4), 0x813910ec);
  CHECK_EQ(cfg(&e, 0x04, 4), 0);                             /* no STATUS.CAP_LIST */
  CHECK_EQ(cfg(&e, 0x08, 4), 0x02000020);
  CHECK_EQ(cfg(&e, 0x10, 4), 1);
  CHECK_EQ(cfg(&e, 0x14, 4), 0);
  CHECK_EQ(cfg(&e, 0x2c, 4), 0x11001af4);
  CHECK_EQ(cfg(&e, 0x34, 1), 0xdc);                          /* QEMU's dangling pointer */
  CHECK_EQ(cfg(&e, 0x3c, 4), 0x00000100);
  setcfg(&e, 0x10, 0xffffffff, 4);
  setcfg(&e, 0x14, 0xffffffff, 4);
  CHECK_EQ(cfg(&e, 0x10, 4), 0xffffff01);
  CHECK_EQ(cfg(&e, 0x14, 4), 0xffffff00);
  setcfg(&e, PCI_CACHE_LINE_SIZE, 16, 1);                    /* pci_set_mwi writes and checks it */
  CHECK_EQ(cfg(&e, PCI_CACHE_LINE_SIZE, 1), 16);
  env_fini(&e);
}

TEST(rtl8139_eeprom_as_8139cp_reads_it) {
  env e;
  env_init(&e);
  bring_up(&e, 0, 0, 0);
  /* The 8-bit-address probe misses 0x8129, so 8139cp settles on 6 address bits. */
  CHECK(ee_read(&e, 0, 8) != 0x8129);
  CHECK_EQ(ee_read(&e, 0, 6), 0x8129);
  CHECK_EQ(ee_read(&e, 1, 6), 0x10ec);
  CHECK_EQ(ee_read(&e, 2, 6), 0x8139);
  for (unsigned i = 0; i < 3; i++) CHECK_EQ(ee_read(&e, 7 + i, 6), mac[2 * i] | mac[2 * i + 1] << 8);
  /* Through the I/O BAR too: same register file. */
  CHECK_EQ(io_rd(&e, CMD, 1), rd(&e, CMD, 1));
  CHECK_EQ(io_rd(&e, IDR0, 4), get32(mac));
  env_fini(&e);
}

TEST(rtl8139_reset_lock_and_registers) {
  env e;
  env_init(&e);
  setcfg(&e, 0x14, (uint32_t)MEMBASE, 4);
  setcfg(&e, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
  CHECK_EQ(rd(&e, CMD, 1), 0x11);                            /* reset state: RST | BUFE */
  CHECK_EQ(rd(&e, TXCONFIG, 4), 0x74800000);                 /* RTL-8139C+ version bits */
  CHECK_EQ(rd(&e, 0x43, 1), 0x74);
  CHECK_EQ(rd(&e, CONFIG1, 1), 0x0c);
  CHECK_EQ(rd(&e, BMCR, 2), 0x1000);
  CHECK_EQ(rd(&e, BMSR, 2), 0x782d);
  CHECK_EQ(rd(&e, ANAR, 2), 0x05e1);
  CHECK_EQ(rd(&e, ANLPAR, 2), 0x05e1);
  CHECK_EQ(rd(&e, MEDIA, 1), 0xd0);
  CHECK_EQ(rd(&e, 0x5e, 1), 0x20);
  /* Config registers only when unlocked. */
  wr(&e, CONFIG1, 0x21, 1);
  CHECK_EQ(rd(&e, CONFIG1, 1), 0x0c);
  wr(&e, CFG9346, 0xc0, 1);
  wr(&e, CONFIG1, 0x21, 1);
  CHECK_EQ(rd(&e, CONFIG1, 1), 0x2d);                        /* bits 2-3 are the chip's */
  wr(&e, CFG9346, 0, 1);
  wr(&e, IDR0, 0x44332211, 4);
  wr(&e, IDR0 + 4, 0x6655, 4);
  CHECK_EQ(rd(&e, IDR0, 4), 0x44332211);
  CHECK_EQ(rd(&e, IDR0 + 4, 4), 0x6655);
  /* ChipCmd RST: the IDR goes back to the EEPROM's MAC, RST reads clear. */
  wr(&e, CMD, 0x1c, 1);
  CHECK_EQ(rd(&e, CMD, 1), 0x0d);
  CHECK_EQ(rd(&e, IDR0, 4), get32(mac));
  /* CpCmd keeps only its writable bits; IntrMitigate reads 0. */
  wr(&e, CPCMD, 0xffff, 2);
  CHECK_EQ(rd(&e, CPCMD, 2), 0x007b);
  wr(&e, 0xe2, 0x1234, 2);
  CHECK_EQ(rd(&e, 0xe2, 2), 0);
  env_fini(&e);
}

TEST(rtl8139_cplus_transmit_and_receive) {
  env e;
  env_init(&e);
  bring_up(&e, 64, 1, 0x0a);                                 /* MyPhys | Broadcast */
  xmit(&e, 0, frame, sizeof frame, 0);
  CHECK_EQ(e.s.got, 1);
  CHECK_EQ(e.s.len, sizeof frame);
  CHECK(memcmp(e.s.last, frame, sizeof frame) == 0);
  uint32_t st = get32(gp(&e, TXRING));
  CHECK_EQ(st & OWN, 0);
  CHECK_EQ(st & (FS | LS), FS | LS);
  CHECK_EQ(rd(&e, ISR, 2) & 0x04, 0x04);                     /* TxOK */
  CHECK_EQ(e.line[1], 1);
  wr(&e, ISR, 0x04, 2);                                      /* write-1-to-clear */
  CHECK_EQ(rd(&e, ISR, 2), 0);
  CHECK_EQ(e.line[1], 0);
  /* A two-fragment frame. */
  memcpy(gp(&e, TXBUFS + 0x5000), frame, 20);
  memcpy(gp(&e, TXBUFS + 0x6000), frame + 20, 40);
  desc(&e, TXRING + 16, OWN | FS | 20, 0, TXBUFS + 0x5000);
  desc(&e, TXRING + 32, OWN | LS | 40, 0, TXBUFS + 0x6000);
  wr(&e, TXPOLL, 0x40, 1);
  CHECK_EQ(e.s.got, 2);
  CHECK_EQ(e.s.len, 60);
  CHECK(memcmp(e.s.last, frame, 60) == 0);
  /* Receive: the frame, its CRC, FS|LS|PAM and length + 4; RxOK raises INTA. */
  uint8_t in[64] = {0x52, 0x54, 0, 0x12, 0x34, 0x57, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00};
  for (int i = 14; i < 64; i++) in[i] = (uint8_t)i;
  net_port_send(&e.s.port, in, sizeof in);
  uint32_t o1 = get32(gp(&e, RXRING));
  CHECK_EQ(o1 & OWN, 0);
  CHECK_EQ(o1 & (FS | LS), FS | LS);
  CHECK(o1 & (1u << 25));                                    /* physical match */
  CHECK_EQ(o1 & 0x1fff, 68);
  CHECK(memcmp(gp(&e, RXBUFS), in, 64) == 0);
  CHECK_EQ(get32(gp(&e, RXBUFS + 64)), (uint32_t)crc32(0, in, 64));
  CHECK_EQ(rd(&e, ISR, 2) & 0x01, 0x01);
  CHECK_EQ(e.line[1], 1);
  /* Broadcast: BAR; a short one is padded to 60 before its CRC. */
  uint8_t bc[42];
  memset(bc, 0xff, 6);
  memcpy(bc + 6, in + 6, 36);
  net_port_send(&e.s.port, bc, sizeof bc);
  o1 = get32(gp(&e, RXRING + 16));
  CHECK(o1 & (1u << 24));
  CHECK_EQ(o1 & 0x1fff, 64);
  /* Not ours, multicast not accepted: filtered. */
  uint8_t other[60] = {0x02, 1, 2, 3, 4, 5};
  net_port_send(&e.s.port, other, sizeof other);
  other[0] = 0x01;
  net_port_send(&e.s.port, other, sizeof other);
  CHECK_EQ(counter(&e, "rx_filtered"), 2);
  CHECK_EQ(get32(gp(&e, RXRING + 32)) & OWN, OWN);
  /* Multicast through the MAR hash (bit = top 6 bits of the Ethernet CRC). */
  wr(&e, RXCONFIG, (5u << 13) | (4u << 8) | 0x0e, 4);
  wr(&e, MAR0, 0xffffffff, 4);
  wr(&e, MAR0 + 4, 0xffffffff, 4);
  net_port_send(&e.s.port, other, sizeof other);
  CHECK(get32(gp(&e, RXRING + 32)) & (1u << 26));
  CHECK_EQ(counter(&e, "rx_frames"), 3);
  CHECK_EQ(counter(&e, "tx_frames"), 2);
  env_fini(&e);
}

TEST(rtl8139_rx_ring_wraps_at_eor_and_at_64) {
  env e;
  env_init(&e);
  bring_up(&e, 4, 1, 0x0a);
  uint8_t in[60] = {0x52, 0x54, 0, 0x12, 0x34, 0x57};
  for (int i = 0; i < 4; i++) net_port_send(&e.s.port, in, sizeof in);
  desc(&e, RXRING, OWN | 1536, 0, RXBUFS);                   /* after EOR: back at 0 */
  in[20] = 0xaa;
  wr(&e, ISR, 0xffff, 2);
  net_port_send(&e.s.port, in, sizeof in);
  CHECK_EQ(gp(&e, RXBUFS)[20], 0xaa);
  CHECK_EQ(get32(gp(&e, RXRING)) & OWN, 0);
  env_fini(&e);
  /* No EOR anywhere: the index wraps at 64 anyway. */
  env_init(&e);
  bring_up(&e, 64, 0, 0x0a);
  for (int i = 0; i < 64; i++) net_port_send(&e.s.port, in, sizeof in);
  CHECK_EQ(counter(&e, "rx_frames"), 64);
  desc(&e, RXRING, OWN | 1536, 0, RXBUFS);
  in[20] = 0xbb;
  net_port_send(&e.s.port, in, sizeof in);
  CHECK_EQ(gp(&e, RXBUFS)[20], 0xbb);
  CHECK_EQ(counter(&e, "rx_frames"), 65);
  /* A frame whose CRC would not fit the buffer: RxOverflow, dropped, counted. */
  desc(&e, RXRING + 16, OWN | 62, 0, RXBUFS + 0x800);
  net_port_send(&e.s.port, in, sizeof in);
  CHECK_EQ(counter(&e, "rx_overflow"), 1);
  CHECK_EQ(get32(gp(&e, RXRING + 16)) & OWN, OWN);
  CHECK(rd(&e, ISR, 2) & 0x10);
  env_fini(&e);
}

TEST(rtl8139_link_change_sets_linkchg_bmsr_and_media) {
  env e;
  env_init(&e);
  bring_up(&e, 64, 1, 0x0a);
  CHECK_EQ(rd(&e, BMSR, 2) & 4, 4);
  nic_set_link(e.n, 0);
  CHECK_EQ(rd(&e, BMSR, 2) & 4, 0);
  CHECK_EQ(rd(&e, MEDIA, 1) & 4, 4);                         /* LinkDown */
  CHECK_EQ(rd(&e, ISR, 2) & 0x20, 0x20);
  CHECK_EQ(e.line[1], 1);
  wr(&e, ISR, 0x20, 2);
  CHECK_EQ(e.line[1], 0);
  xmit(&e, 0, frame, sizeof frame, 0);                       /* a link that is down sends nothing */
  CHECK_EQ(e.s.got, 0);
  nic_set_link(e.n, 1);
  CHECK_EQ(rd(&e, BMSR, 2) & 4, 4);
  CHECK_EQ(rd(&e, MEDIA, 1) & 4, 0);
  CHECK_EQ(rd(&e, ISR, 2) & 0x20, 0x20);
  env_fini(&e);
}

TEST(rtl8139_tally_dump_as_ethtool_reads_it) {
  env e;
  env_init(&e);
  bring_up(&e, 64, 1, 0x0a);
  xmit(&e, 0, frame, sizeof frame, 0);
  uint8_t in[60] = {0x52, 0x54, 0, 0x12, 0x34, 0x57};
  net_port_send(&e.s.port, in, sizeof in);
  memset(gp(&e, TALLY), 0xee, 64);
  wr(&e, DTCCR + 4, 0, 4);
  wr(&e, DTCCR, (uint32_t)TALLY | 8, 4);
  CHECK_EQ(rd(&e, DTCCR, 4) & 8, 0);                         /* dump done */
  CHECK_EQ(get32(gp(&e, TALLY)), 1);                          /* tx_ok */
  CHECK_EQ(get32(gp(&e, TALLY + 8)), 1);                      /* rx_ok */
  CHECK_EQ(get32(gp(&e, TALLY + 40)), 1);                     /* rx_ok_phys */
  CHECK_EQ(gp(&e, TALLY)[63], 0);
  CHECK_EQ(counter(&e, "tally_dumps"), 1);
  env_fini(&e);
}

TEST(rtl8139_dry_ring_holds_frames_until_refilled) {
  env e;
  env_init(&e);
  bring_up(&e, 1, 1, 0x0a);                                  /* one descriptor, EOR */
  uint8_t in[60] = {0x52, 0x54, 0, 0x12, 0x34, 0x57};
  net_port_send(&e.s.port, in, sizeof in);
  CHECK_EQ(counter(&e, "rx_frames"), 1);
  in[30] = 1;
  net_port_send(&e.s.port, in, sizeof in);                   /* no descriptor owned: held */
  in[30] = 2;
  net_port_send(&e.s.port, in, sizeof in);
  CHECK_EQ(counter(&e, "rx_held"), 1);
  CHECK_EQ(e.n->port.qlen, 2);
  CHECK_EQ(e.n->port.rx.drops, 0);
  CHECK(rd(&e, ISR, 2) & 0x10);                              /* RxEmpty tells 8139cp to poll */
  /* 8139cp's poll: refill with OWN, ack the RX interrupts. */
  desc(&e, RXRING, OWN | EOR | 1536, 0, RXBUFS);
  wr(&e, ISR, 0x51, 2);
  CHECK_EQ(counter(&e, "rx_frames"), 2);
  CHECK_EQ(gp(&e, RXBUFS)[30], 1);
  CHECK_EQ(e.n->port.qlen, 1);
  /* Refilled without touching a register: the 1 ms retry delivers it. */
  desc(&e, RXRING, OWN | EOR | 1536, 0, RXBUFS);
  e.now += 999999;
  dtimer_run(&e.clock);
  CHECK_EQ(counter(&e, "rx_frames"), 2);
  e.now += 1;
  dtimer_run(&e.clock);
  CHECK_EQ(counter(&e, "rx_frames"), 3);
  CHECK_EQ(gp(&e, RXBUFS)[30], 2);
  CHECK_EQ(e.n->port.qlen, 0);
  CHECK_EQ(counter(&e, "rx_held"), 2);
  /* An IntrMask write (NAPI done) retries too. */
  net_port_send(&e.s.port, in, sizeof in);
  CHECK_EQ(e.n->port.qlen, 1);
  desc(&e, RXRING, OWN | EOR | 1536, 0, RXBUFS);
  wr(&e, IMR, CP_INTR_MASK, 2);
  CHECK_EQ(e.n->port.qlen, 0);
  CHECK_EQ(counter(&e, "rx_frames"), 4);
  env_fini(&e);
}

/* CVE-2015-5165: C+ checksum offload trusting the IP header's lengths read (and sent) heap memory
 * past the frame. Here IHL and total length claim more than the frame holds. */
TEST(rtl8139_cve_2015_5165_offload_lengths_past_the_frame) {
  env e;
  env_init(&e);
  bring_up(&e, 64, 1, 0x0a);
  uint8_t f[54] = {0x02, 0, 0, 0, 0, 9, 0x52, 0x54, 0, 0x12, 0x34, 0x57, 0x08, 0x00};
  uint8_t *ip = f + 14;
  ip[0] = 0x45;
  ip[2] = 0xff; ip[3] = 0xff;                                /* total length 65535 */
  ip[9] = 6;                                                 /* TCP */
  for (int i = 34; i < 54; i++) f[i] = (uint8_t)(0xa0 + i);
  /* TCPCS | IPCS: the lengths do not fit, so the frame goes out unmodified. */
  xmit(&e, 0, f, sizeof f, (1u << 18) | (1u << 16));
  CHECK_EQ(e.s.got, 1);
  CHECK_EQ(e.s.len, sizeof f);
  CHECK(memcmp(e.s.last, f, sizeof f) == 0);
  CHECK_EQ(counter(&e, "offload_refused"), 1);
  /* IHL 15 (60 bytes) past a 20-byte payload; total length smaller than the header. */
  ip[0] = 0x4f;
  ip[2] = 0; ip[3] = 40;
  xmit(&e, 1, f, sizeof f, (1u << 18));
  CHECK(memcmp(e.s.last, f, sizeof f) == 0);
  ip[0] = 0x45;
  ip[2] = 0; ip[3] = 10;
  xmit(&e, 2, f, sizeof f, (1u << 17));
  CHECK(memcmp(e.s.last, f, sizeof f) == 0);
  /* TSO with a zero MSS, then with a TCP data offset past the segment: sent as is. */
  ip[2] = 0; ip[3] = 40;
  f[14 + 20 + 12] = 0xf0;
  xmit(&e, 3, f, sizeof f, 1u << 27);
  CHECK(memcmp(e.s.last, f, sizeof f) == 0);
  CHECK_EQ(e.s.len, sizeof f);
  xmit(&e, 4, f, sizeof f, (1u << 27) | (536u << 16));
  CHECK(memcmp(e.s.last, f, sizeof f) == 0);
  CHECK_EQ(e.s.len, sizeof f);
  CHECK_EQ(counter(&e, "offload_refused"), 5);
  /* A frame too short for an IP header at all. */
  xmit(&e, 5, f, 20, (1u << 18));
  CHECK_EQ(e.s.len, 20);
  CHECK(memcmp(e.s.last, f, 20) == 0);
  CHECK_EQ(counter(&e, "offload_refused"), 6);
  /* A consistent header: the IP checksum is filled in, nothing else changes. */
  f[14 + 20 + 12] = 0x50;
  xmit(&e, 6, f, sizeof f, (1u << 18));
  CHECK_EQ(e.s.len, sizeof f);
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (uint32_t)(e.s.last[14 + i] << 8 | e.s.last[15 + i]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  CHECK_EQ(sum, 0xffff);
  CHECK(memcmp(e.s.last + 34, f + 34, 20) == 0);
  CHECK_EQ(counter(&e, "tx_frames"), 7);
  env_fini(&e);
}

/* CVE-2016-8910: a C+ transmit ring the card could walk forever. First every descriptor owned with
 * no EOR and no LS; then a ring the card's own receive DMA keeps re-arming while it sends. */
TEST(rtl8139_cve_2016_8910_tx_ring_that_never_ends) {
  env e;
  env_init(&e);
  bring_up(&e, 64, 1, 0x0a);
  for (unsigned i = 0; i < 64; i++) desc(&e, TXRING + 16 * i, OWN | 0xffff, 0, RAM);
  wr(&e, TXPOLL, 0x40, 1);
  CHECK_EQ(counter(&e, "tx_poll_limit"), 1);
  CHECK_EQ(counter(&e, "tx_oversize"), 1);                   /* 64 x 64 KiB clamped at 64 KiB */
  for (unsigned i = 0; i < 64; i++) CHECK_EQ(get32(gp(&e, TXRING + 16 * i)) & OWN, 0);
  CHECK_EQ(e.s.got, 0);
  /* The index wrapped at 64: the next frame is taken from descriptor 0. */
  xmit(&e, 0, frame, sizeof frame, 0);
  CHECK_EQ(e.s.got, 1);
  env_fini(&e);

  /* Every receive buffer is the transmit ring, and the peer answers each frame with one that
   * rewrites all 64 TX descriptors as owned, complete frames. */
  env_init(&e);
  bring_up(&e, 64, 0, 0x01);                                 /* AcceptAllPhys */
  static uint8_t ring[64 * 16];
  for (unsigned i = 0; i < 64; i++) {
    put32(ring + 16 * i, OWN | FS | LS | 60);
    put32(ring + 16 * i + 4, 0);
    put32(ring + 16 * i + 8, (uint32_t)TXBUFS);
    put32(ring + 16 * i + 12, 0);
  }
  for (unsigned i = 0; i < 64; i++) desc(&e, RXRING + 16 * i, OWN | 0x1fff, 0, TXRING);
  memcpy(gp(&e, TXBUFS), frame, sizeof frame);
  memcpy(gp(&e, TXRING), ring, sizeof ring);
  e.s.echo = 1;
  e.s.echo_frame = ring;
  e.s.echo_len = sizeof ring;
  wr(&e, TXPOLL, 0x40, 1);                                   /* returns: the walk is bounded */
  CHECK_EQ(e.s.got, 64);
  CHECK_EQ(counter(&e, "tx_poll_limit"), 1);
  CHECK_EQ(counter(&e, "rx_frames"), 64);
  e.s.echo = 0;
  env_fini(&e);
}

/* Rings and buffers the guest points at MMIO (the card's own BAR), past RAM, or while bus mastering
 * is off: no DMA happens, the walk stops, each refusal is counted. */
TEST(rtl8139_dma_outside_ram_is_refused) {
  env e;
  env_init(&e);
  bring_up(&e, 64, 1, 0x0a);
  wr(&e, TXADDR, (uint32_t)MEMBASE, 4);                      /* the TX ring on its own registers */
  wr(&e, TXPOLL, 0x40, 1);
  CHECK_EQ(counter(&e, "dma_refused"), 1);
  CHECK_EQ(e.s.got, 0);
  wr(&e, TXADDR, (uint32_t)(RAM + RAMSZ - 8), 4);            /* straddles the end of RAM */
  wr(&e, TXPOLL, 0x40, 1);
  CHECK_EQ(counter(&e, "dma_refused"), 2);
  wr(&e, TXADDR, (uint32_t)TXRING, 4);
  desc(&e, TXRING, OWN | FS | LS | 60, 0, MEMBASE);          /* a buffer in MMIO */
  wr(&e, TXPOLL, 0x40, 1);
  CHECK_EQ(counter(&e, "dma_refused"), 3);
  CHECK_EQ(counter(&e, "bad_descriptors"), 1);
  CHECK_EQ(e.s.got, 0);
  CHECK(get32(gp(&e, TXRING)) & (1u << 23));                 /* TxError in its status */
  CHECK_EQ(get32(gp(&e, TXRING)) & OWN, 0);
  /* RX: a buffer at MMIO, then the ring itself past RAM; frames are dropped, counted. */
  uint8_t in[60] = {0x52, 0x54, 0, 0x12, 0x34, 0x57};
  desc(&e, RXRING, OWN | EOR | 1536, 0, MEMBASE);
  net_port_send(&e.s.port, in, sizeof in);
  CHECK_EQ(counter(&e, "dma_refused"), 4);
  wr(&e, RXRING_HI, 0x10, 4);
  net_port_send(&e.s.port, in, sizeof in);
  CHECK_EQ(counter(&e, "dma_refused"), 5);
  wr(&e, RXRING_HI, 0, 4);
  /* Bus mastering off: nothing read or written. */
  desc(&e, RXRING, OWN | EOR | 1536, 0, RXBUFS);
  setcfg(&e, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
  net_port_send(&e.s.port, in, sizeof in);
  CHECK_EQ(counter(&e, "dma_refused"), 6);
  CHECK_EQ(get32(gp(&e, RXRING)) & OWN, OWN);
  CHECK_EQ(counter(&e, "rx_frames"), 0);
  /* Zero-length and runt frames are refused and counted. */
  setcfg(&e, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
  xmit(&e, 1, frame, 0, 0);
  xmit(&e, 2, frame, 13, 0);
  CHECK_EQ(counter(&e, "tx_runt"), 2);
  CHECK_EQ(e.s.got, 0);
  env_fini(&e);
}

/* The classic C mode: four transmit slots and the receive ring buffer with its 4-byte headers. */
TEST(rtl8139_c_mode_slots_and_ring) {
  env e;
  env_init(&e);
  setcfg(&e, 0x10, IOBASE, 4);
  setcfg(&e, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
  io_wr(&e, CMD, 0x10, 1);
  io_wr(&e, RXBUF, (uint32_t)RXBUFS, 4);
  io_wr(&e, CMD, 0x0c, 1);
  io_wr(&e, RXCONFIG, 0x0a, 4);                              /* 8 KiB ring */
  io_wr(&e, IMR, 0x05, 2);
  memcpy(gp(&e, TXBUFS), frame, sizeof frame);
  io_wr(&e, TXADDR, (uint32_t)TXBUFS, 4);
  io_wr(&e, TXSTATUS, sizeof frame, 4);
  CHECK_EQ(e.s.got, 1);
  CHECK_EQ(io_rd(&e, TXSTATUS, 4) & 0xa000, 0xa000);         /* OWN | TOK */
  uint8_t in[60] = {0x52, 0x54, 0, 0x12, 0x34, 0x57};
  in[40] = 0x77;
  net_port_send(&e.s.port, in, sizeof in);
  CHECK_EQ(get32(gp(&e, RXBUFS)), 0x4001u | 64u << 16);      /* ROK | PAM, length + CRC */
  CHECK_EQ(gp(&e, RXBUFS + 4)[40], 0x77);
  CHECK_EQ(get32(gp(&e, RXBUFS + 64)), (uint32_t)crc32(0, in, 60));
  CHECK_EQ(io_rd(&e, CMD, 1) & 1, 0);                        /* not empty */
  io_wr(&e, CAPR, 68 - 16, 2);
  CHECK_EQ(io_rd(&e, CMD, 1) & 1, 1);
  env_fini(&e);
}

static uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}
static uint32_t sum16(const uint8_t *p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) s += (uint32_t)p[n - 1] << 8;
  return s;
}

typedef struct segs { net_port port; int n; size_t len[8]; uint8_t f[8][1600]; } segs;
static int segs_rx(net_port *p, net_frame *f) {
  segs *s = p->owner;
  if (s->n < 8 && f->len <= 1600) { s->len[s->n] = f->len; memcpy(s->f[s->n], f->data, f->len); }
  s->n++;
  return 1;
}
static const net_port_ops segs_ops = {"segs", segs_rx};

/* 8139cp (Linux 6.1) turns on TSO: a 2500-byte TCP payload with MSS 1000 leaves as three segments
 * with their lengths, ids, sequence numbers, flags and checksums set. */
TEST(rtl8139_large_send_segments) {
  env e;
  env_init(&e);
  static segs sg;
  memset(&sg, 0, sizeof sg);
  net_port_init(&sg.port, &segs_ops, &sg, "segs");
  net_port_attach(&sg.port, e.hub);
  bring_up(&e, 64, 1, 0x0a);
  static uint8_t f[14 + 20 + 20 + 2500];
  memcpy(f, frame, 12);
  f[12] = 0x08;
  uint8_t *ip = f + 14, *th = ip + 20;
  ip[0] = 0x45;
  ip[2] = (uint8_t)((20 + 20 + 2500) >> 8); ip[3] = (uint8_t)(20 + 20 + 2500);
  ip[4] = 0x12; ip[5] = 0x34;
  ip[8] = 64; ip[9] = 6;
  ip[12] = 10; ip[15] = 15; ip[16] = 10; ip[19] = 2;
  th[4] = 0; th[5] = 0; th[6] = 0x10; th[7] = 0;          /* seq 0x1000 */
  th[12] = 0x50;
  th[13] = 0x18;                                           /* PSH | ACK */
  for (size_t i = 0; i < 2500; i++) th[20 + i] = (uint8_t)(i * 7);
  xmit(&e, 0, f, sizeof f, (1u << 27) | (1000u << 16));
  CHECK_EQ(sg.n, 3);
  CHECK_EQ(counter(&e, "tso_frames"), 1);
  size_t want[3] = {1000, 1000, 500};
  for (int k = 0; k < 3 && k < sg.n; k++) {
    uint8_t *g = sg.f[k], *gip = g + 14, *gth = gip + 20;
    CHECK_EQ(sg.len[k], 54 + want[k]);
    CHECK_EQ(gip[2] << 8 | gip[3], 40 + want[k]);
    CHECK_EQ(gip[4] << 8 | gip[5], 0x1234 + k);
    CHECK_EQ(fold(sum16(gip, 20)), 0xffff);
    uint32_t seq = (uint32_t)gth[4] << 24 | (uint32_t)gth[5] << 16 | (uint32_t)gth[6] << 8 | gth[7];
    CHECK_EQ(seq, 0x1000 + 1000u * (unsigned)k);
    CHECK_EQ(gth[13], k == 2 ? 0x18 : 0x10);
    uint32_t ps = sum16(gip + 12, 8) + 6 + (uint32_t)(20 + want[k]);
    CHECK_EQ(fold(ps + sum16(gth, 20 + want[k])), 0xffff);
    CHECK(memcmp(gth + 20, th + 20 + 1000 * k, want[k]) == 0);
  }
  net_port_detach(&sg.port);
  env_fini(&e);
}

/* 8139cp turns VLAN offload on: TAGC puts the tag (opts2, wire byte order) after the addresses on
 * transmit, and with CpCmd RxVLAN a tagged frame arrives untagged with TAVA and the TCI in opts2. */
TEST(rtl8139_vlan_insert_and_strip) {
  env e;
  env_init(&e);
  bring_up(&e, 64, 1, 0x0a);
  wr(&e, CPCMD, 0x6b, 2);                                    /* | RxVlanOn */
  memcpy(gp(&e, TXBUFS), frame, sizeof frame);
  desc(&e, TXRING, OWN | FS | LS | sizeof frame, (1u << 17) | 0x0520, TXBUFS);   /* VID 0x205 */
  wr(&e, TXPOLL, 0x40, 1);
  CHECK_EQ(e.s.len, sizeof frame + 4);
  CHECK(memcmp(e.s.last, frame, 12) == 0);
  CHECK_EQ(e.s.last[12], 0x81);
  CHECK_EQ(e.s.last[13], 0x00);
  CHECK_EQ(e.s.last[14], 0x20);
  CHECK_EQ(e.s.last[15], 0x05);
  CHECK(memcmp(e.s.last + 16, frame + 12, sizeof frame - 12) == 0);
  uint8_t in[80] = {0x52, 0x54, 0, 0x12, 0x34, 0x57, 0x02, 0, 0, 0, 0, 1, 0x81, 0x00, 0x20, 0x05,
                    0x08, 0x00};
  for (int i = 18; i < 80; i++) in[i] = (uint8_t)i;
  net_port_send(&e.s.port, in, sizeof in);
  uint32_t o1 = get32(gp(&e, RXRING)), o2 = get32(gp(&e, RXRING + 4));
  CHECK_EQ(o1 & 0x1fff, 76 + 4);
  CHECK_EQ(o2, (1u << 16) | 0x0520);
  CHECK(memcmp(gp(&e, RXBUFS), in, 12) == 0);
  CHECK(memcmp(gp(&e, RXBUFS + 12), in + 16, 64) == 0);
  env_fini(&e);
}
