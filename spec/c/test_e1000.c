/* test_e1000: the 82540EM model driven as U-Boot and Linux drive it (EEPROM by Microwire and by
 * EERD, the PHY over MDIC, auto-negotiation on a fake guest clock, interrupts, the transmit and
 * receive rings, checksum offload and TSO checked by recomputing every checksum, VLAN tags,
 * loopback, backpressure), then as the exploits of QEMU's e1000 CVEs drove QEMU's: each must end,
 * stay inside the rings and buffers it was given, and be counted. */
#include <string.h>

#include "bus.h"
#include "ctest.h"
#include "dtimer.h"
#include "e1000.h"
#include "pci.h"
#include "port.h"
#include "rt.h"

#define RAM 0x80000000ull
#define RAMSZ 0x400000ull
#define IOBASE 0x1000
#define MEMBASE 0x40000000ull
#define TXRING (RAM + 0x1000)
#define RXRING (RAM + 0x3000)
#define TXBUF (RAM + 0x10000)
#define RXBUF (RAM + 0x100000)

enum {
  CTRL = 0x0, STATUS = 0x8, EECD = 0x10, EERD = 0x14, MDIC = 0x20, VET = 0x38, ICR = 0xc0,
  ICS = 0xc8, IMS = 0xd0, IMC = 0xd8, RCTL = 0x100, TCTL = 0x400, TIPG = 0x410, LEDCTL = 0xe00,
  PBA = 0x1000, RDBAL = 0x2800, RDBAH = 0x2804, RDLEN = 0x2808, RDH = 0x2810, RDT = 0x2818,
  TDBAL = 0x3800, TDBAH = 0x3804, TDLEN = 0x3808, TDH = 0x3810, TDT = 0x3818, MTA = 0x5200,
  RA = 0x5400, MANC = 0x5820,
};

static uint64_t fake_now;
static uint64_t clock_now(void *ud) { (void)ud; return fake_now; }

/* A port on the hub that keeps what it receives; it may run a hook per frame. */
#define SINK_MAX 80
typedef struct sink {
  net_port port;
  int got;
  uint32_t len[SINK_MAX];
  uint8_t data[SINK_MAX][2048];
  void (*hook)(struct sink *s);
  void *ud;
} sink;

static int sink_rx(net_port *p, net_frame *f) {
  sink *s = p->owner;
  if (s->got < SINK_MAX) {
    s->len[s->got] = f->len;
    memcpy(s->data[s->got], f->data, f->len < 2048 ? f->len : 2048);
  }
  s->got++;
  if (s->hook) s->hook(s);
  return 1;
}
static const net_port_ops sink_ops = {"sink", sink_rx};

typedef struct env {
  lemu_rt *rt;
  bus *b;
  uint8_t *ram;
  pci_bus *pb;
  int line[4];
  pci_window io, mem;
  net_hub *hub;
  dtimer_clock clk;
  void *card;
  pci_dev *d;
  nic *n;
  sink s;
} env;

static void on_intx(void *ud, int line, int level) { ((env *)ud)->line[line] = level; }

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t peer[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};

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
  fake_now = 0;
  dtimer_clock_init(&e->clk, clock_now, NULL, NULL);
  e->card = e1000_model.create(mac, "e1000", &e->clk);
  e->d = e1000_model.pci(e->card);
  e->n = e1000_model.nic(e->card);
  net_port_attach(&e->n->port, e->hub);
  net_port_init(&e->s.port, &sink_ops, &e->s, "sink");
  net_port_attach(&e->s.port, e->hub);
  static pci_dev host;
  static const pci_id hid = {0x1b36, 0x0008, 0, 0x060000, 0x1af4, 0x1100, 0};
  pci_dev_init(&host, &hid, NULL, NULL, "host");
  pci_bus_plug(e->pb, &host, 0);
  CHECK_EQ(pci_bus_plug(e->pb, e->d, -1), 8);                /* slot 1: INTA on line 1 */
}

/* What U-Boot's autoconfig leaves: BAR0 at 0x40000000, BAR1 at port 0x1000, I/O, memory and
 * bus mastering on. */
static void env_enable(env *e) {
  pci_config_write(e->d, 0x10, (uint32_t)MEMBASE, 4);
  pci_config_write(e->d, 0x14, IOBASE, 4);
  pci_config_write(e->d, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

static void env_fini(env *e) {
  net_port_detach(&e->s.port);
  pci_bus_free(e->pb);
  e1000_model.destroy(e->card);
  bus_free(e->b);
  lemu_rt_free(e->rt);
}

static uint32_t rd(env *e, uint32_t off) { return (uint32_t)pci_window_ops.read(&e->mem, MEMBASE + off, 4); }
static void wr(env *e, uint32_t off, uint32_t v) { pci_window_ops.write(&e->mem, MEMBASE + off, v, 4); }
static uint8_t *gp(env *e, uint64_t pa) { return e->ram + (pa - RAM); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)be16(p) << 16 | be16(p + 2); }
static void pbe16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void pbe32(uint8_t *p, uint32_t v) { pbe16(p, (uint16_t)(v >> 16)); pbe16(p + 2, (uint16_t)v); }

typedef struct cq { const char *name; uint64_t v; int found; } cq;
static void cput(void *ud, const char *name, uint64_t v) {
  cq *q = ud;
  if (!strcmp(q->name, name)) { q->v = v; q->found = 1; }
}
static uint64_t counter(env *e, const char *name) {
  cq q = {name, 0, 0};
  e1000_model.counters(e->card, cput, &q);
  if (!q.found) printf("# no counter %s\n", name);
  CHECK(q.found);
  return q.v;
}

/* ---- descriptors ---- */

enum { EOP = 1u << 24, IFCS = 1u << 25, TSE = 1u << 26, RS = 1u << 27, DEXT = 1u << 29,
       VLE = 1u << 30, DTYP_D = 1u << 20, CTX_TCP = 1u << 24, CTX_IP = 1u << 25 };

static void txd_legacy(env *e, int i, uint64_t buf, uint32_t len, uint32_t cmd, uint16_t special) {
  uint8_t *d = gp(e, TXRING + 16 * (uint64_t)i);
  put64(d, buf);
  put32(d + 8, (len & 0xffff) | cmd);
  put32(d + 12, (uint32_t)special << 16);
}

static void txd_data(env *e, int i, uint64_t buf, uint32_t len, uint32_t cmd, uint8_t popts) {
  uint8_t *d = gp(e, TXRING + 16 * (uint64_t)i);
  put64(d, buf);
  put32(d + 8, (len & 0xfffff) | DEXT | DTYP_D | cmd);
  put32(d + 12, (uint32_t)popts << 8);
}

typedef struct ctx {
  uint8_t ipcss, ipcso, tucss, tucso, hdr_len;
  uint16_t ipcse, tucse, mss;
  uint32_t paylen, cmd;
} ctx;

static void txd_context(env *e, int i, const ctx *c) {
  uint8_t *d = gp(e, TXRING + 16 * (uint64_t)i);
  d[0] = c->ipcss; d[1] = c->ipcso; put16(d + 2, c->ipcse);
  d[4] = c->tucss; d[5] = c->tucso; put16(d + 6, c->tucse);
  put32(d + 8, (c->paylen & 0xfffff) | DEXT | c->cmd);
  d[12] = 0; d[13] = c->hdr_len; put16(d + 14, c->mss);
}

/* The transmit ring as both drivers set it up: n descriptors, head and tail 0, enabled. */
static void tx_setup(env *e, uint32_t n) {
  wr(e, TDBAL, (uint32_t)TXRING);
  wr(e, TDBAH, 0);
  wr(e, TDLEN, 16 * n);
  wr(e, TDH, 0);
  wr(e, TDT, 0);
  wr(e, TCTL, 0x0100010a);                                 /* EN | PSP | CT | COLD */
}

/* n receive descriptors with 2 KiB buffers; RDT = tail (tail free descriptors). */
static void rx_setup(env *e, uint32_t n, uint32_t tail, uint32_t rctl) {
  for (uint32_t i = 0; i < n; i++) {
    uint8_t *d = gp(e, RXRING + 16 * (uint64_t)i);
    memset(d, 0, 16);
    put64(d, RXBUF + 0x800 * (uint64_t)i);
  }
  wr(e, RDBAL, (uint32_t)RXRING);
  wr(e, RDBAH, 0);
  wr(e, RDLEN, 16 * n);
  wr(e, RDH, 0);
  wr(e, RDT, tail);
  wr(e, RCTL, rctl);
}

enum { RCTL_EN = 2, RCTL_UPE = 8, RCTL_MPE = 0x10, RCTL_BAM = 0x8000, RCTL_SECRC = 1u << 26 };

/* ---- packets ---- */

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n) {
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) s += (uint32_t)p[n - 1] << 8;
  return s;
}
static uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)s;
}
/* The TCP/UDP checksum of an IPv4 segment verifies: the sum with the pseudo-header is all ones. */
static int l4_ok(const uint8_t *ip, uint8_t proto) {
  uint32_t ihl = (ip[0] & 15u) * 4, len = be16(ip + 2) - ihl;
  uint32_t s = sum16(0, ip + 12, 8) + proto + len;
  return fold(sum16(s, ip + ihl, len)) == 0xffff;
}
static int ip_ok(const uint8_t *ip) { return fold(sum16(0, ip, (ip[0] & 15u) * 4)) == 0xffff; }

/* Ethernet + IPv4 + TCP (20-byte headers) with payload bytes i*7; tot_len and checksums left 0. */
static uint32_t build_tcp(uint8_t *p, uint32_t payload, uint8_t flags) {
  memset(p, 0, 54);
  memcpy(p, peer, 6);
  memcpy(p + 6, mac, 6);
  pbe16(p + 12, 0x0800);
  uint8_t *ip = p + 14;
  ip[0] = 0x45; pbe16(ip + 4, 0x1234); pbe16(ip + 6, 0x4000); ip[8] = 64; ip[9] = 6;
  ip[12] = 10; ip[13] = 0; ip[14] = 2; ip[15] = 15;
  ip[16] = 10; ip[17] = 0; ip[18] = 2; ip[19] = 2;
  uint8_t *tcp = ip + 20;
  pbe16(tcp, 40000); pbe16(tcp + 2, 80); pbe32(tcp + 4, 0x01020304); pbe32(tcp + 8, 0x0a0b0c0d);
  tcp[12] = 5 << 4; tcp[13] = flags; pbe16(tcp + 14, 0xffff);
  for (uint32_t i = 0; i < payload; i++) p[54 + i] = (uint8_t)(i * 7);
  return 54 + payload;
}
/* The pseudo-header sum a driver leaves in the TCP checksum field (len 0 for TSO). */
static uint16_t pseudo(const uint8_t *ip, uint32_t len) { return fold(sum16(0, ip + 12, 8) + 6 + len); }

/* A frame from the sink to the card (or any destination). */
static void send_to(env *e, const uint8_t dst[6], uint32_t len, uint8_t fill) {
  uint8_t f[2048];
  memset(f, fill, sizeof f);
  memcpy(f, dst, 6);
  memcpy(f + 6, peer, 6);
  pbe16(f + 12, 0x0800);
  net_port_send(&e->s.port, f, len);
}

/* ---- identity, registers ---- */

/* QEMU 7.2's config space of 00:01.0 = -device e1000,romfile= before firmware (VERIFIED-7.2 in
 * the research notes): no capabilities, INTA, BAR0 memory, BAR1 I/O. */
TEST(e1000_config_space_and_bars_are_qemus) {
  env e;
  env_init(&e);
  CHECK_EQ(pci_config_read(e.d, 0x00, 4), 0x100e8086);
  CHECK_EQ(pci_config_read(e.d, 0x04, 4), 0);
  CHECK_EQ(pci_config_read(e.d, 0x08, 4), 0x02000003);
  CHECK_EQ(pci_config_read(e.d, 0x0c, 4), 0);
  CHECK_EQ(pci_config_read(e.d, 0x10, 4), 0);
  CHECK_EQ(pci_config_read(e.d, 0x14, 4), 1);
  CHECK_EQ(pci_config_read(e.d, 0x2c, 4), 0x11001af4);
  CHECK_EQ(pci_config_read(e.d, 0x34, 4), 0);
  CHECK_EQ(pci_config_read(e.d, 0x3c, 4), 0x00000100);
  for (uint32_t off = 0x18; off < 0x2c; off += 4) CHECK_EQ(pci_config_read(e.d, off, 4), 0);
  pci_config_write(e.d, 0x10, 0xffffffff, 4);
  pci_config_write(e.d, 0x14, 0xffffffff, 4);
  CHECK_EQ(pci_config_read(e.d, 0x10, 4), 0xfffe0000);       /* 128 KiB */
  CHECK_EQ(pci_config_read(e.d, 0x14, 4), 0xffffffc1);       /* 64 ports */
  env_enable(&e);
  /* The I/O BAR decodes and is inert: Linux's reset through IOADDR/IODATA does nothing. */
  CHECK_EQ(pci_window_ops.read(&e.io, IOBASE, 4), 0);
  pci_window_ops.write(&e.io, IOBASE, 0, 4);
  pci_window_ops.write(&e.io, IOBASE + 4, 0x04000000, 4);    /* CTRL.RST */
  CHECK_EQ(pci_window_ops.read(&e.io, IOBASE + 4, 4), 0);
  /* Reset values; RST through MMIO clears itself and resets nothing. */
  CHECK_EQ(rd(&e, CTRL), 0x00140240);
  CHECK_EQ(rd(&e, STATUS), 0x80080783);
  CHECK_EQ(rd(&e, PBA), 0x00100030);
  CHECK_EQ(rd(&e, LEDCTL), 0x602);
  CHECK_EQ(rd(&e, MANC), 0x00222300);
  CHECK_EQ(rd(&e, VET), 0x8100);
  CHECK_EQ(rd(&e, RA), 0x12005452);
  CHECK_EQ(rd(&e, RA + 4), 0x80005634);
  wr(&e, PBA, 0x30);
  wr(&e, TIPG, 0x00602008);
  wr(&e, CTRL, 0x00140240 | 0x04000000);
  CHECK_EQ(rd(&e, CTRL), 0x00140240);
  CHECK_EQ(rd(&e, PBA), 0x30);
  CHECK_EQ(rd(&e, TIPG), 0x00602008);
  wr(&e, STATUS, 0);                                          /* read-only */
  CHECK_EQ(rd(&e, STATUS), 0x80080783);
  wr(&e, TDLEN, 0xffffffff);                                  /* QEMU's masks */
  CHECK_EQ(rd(&e, TDLEN), 0xfff80);
  wr(&e, TDH, 0x12345678);
  CHECK_EQ(rd(&e, TDH), 0x5678);
  CHECK_EQ(rd(&e, 0x4000), 0);                                /* statistics read 0 */
  CHECK_EQ(rd(&e, 0x12010), 0);                               /* U-Boot's I210 FLUPD probe */
  env_fini(&e);
}

/* ---- EEPROM ---- */

enum { EE_SK = 1, EE_CS = 2, EE_DI = 4, EE_DO = 8, EE_REQ = 0x40, EE_GNT = 0x80, EE_PRES = 0x100 };

/* e1000_read_eeprom for a Microwire part, as U-Boot 2023.01 and Linux 6.1 do it. */
static uint16_t ee_word(env *e, uint32_t addr) {
  uint32_t v = rd(e, EECD) | EE_REQ;
  wr(e, EECD, v);
  CHECK(rd(e, EECD) & EE_GNT);
  v = rd(e, EECD) & ~(uint32_t)(EE_DI | EE_SK);
  wr(e, EECD, v);
  v |= EE_CS;
  wr(e, EECD, v);
  uint32_t bits = 6u << 6 | addr;                             /* READ opcode, then 6 address bits */
  for (int i = 8; i >= 0; i--) {
    v = (v & ~(uint32_t)EE_DI) | (((bits >> i) & 1) ? EE_DI : 0);
    wr(e, EECD, v);
    wr(e, EECD, v | EE_SK);
    wr(e, EECD, v);
  }
  v &= ~(uint32_t)EE_DI;
  wr(e, EECD, v);
  uint16_t w = 0;
  for (int i = 0; i < 16; i++) {
    wr(e, EECD, v | EE_SK);
    w = (uint16_t)(w << 1 | ((rd(e, EECD) & EE_DO) ? 1 : 0));
    wr(e, EECD, v);
  }
  v &= ~(uint32_t)(EE_CS | EE_SK);                            /* standby, release */
  wr(e, EECD, v);
  wr(e, EECD, v & ~(uint32_t)EE_REQ);
  return w;
}

TEST(e1000_eeprom_by_microwire_and_eerd_has_the_mac_and_sums_to_0xbaba) {
  env e;
  env_init(&e);
  env_enable(&e);
  CHECK_EQ(rd(&e, EECD) & (EE_PRES | EE_GNT | 0x200), EE_PRES | EE_GNT);   /* 64 words */
  uint16_t mw[64], rw[64], sum = 0;
  for (uint32_t i = 0; i < 64; i++) {
    mw[i] = ee_word(&e, i);
    sum = (uint16_t)(sum + mw[i]);
  }
  CHECK_EQ(sum, 0xbaba);
  CHECK_EQ(mw[0], 0x5452);
  CHECK_EQ(mw[1], 0x1200);
  CHECK_EQ(mw[2], 0x5634);
  CHECK_EQ(mw[11], 0x100e);
  CHECK_EQ(mw[13], 0x100e);
  CHECK_EQ(mw[12], 0x8086);
  for (uint32_t i = 0; i < 64; i++) {
    wr(&e, EERD, i << 8 | 1);
    uint32_t v = rd(&e, EERD);
    CHECK_EQ(v & 0xffff, i << 8 | 0x10);                     /* DONE, START cleared */
    rw[i] = (uint16_t)(v >> 16);
  }
  CHECK(memcmp(mw, rw, sizeof mw) == 0);
  wr(&e, EERD, 64u << 8 | 1);
  CHECK_EQ(rd(&e, EERD), 64u << 8 | 0x10);                    /* past the end: DONE, no data */
  env_fini(&e);
}

/* ---- PHY, link, interrupts ---- */

static uint32_t mdic(env *e, uint32_t phy, uint32_t reg, int write, uint16_t data) {
  wr(e, MDIC, data | reg << 16 | phy << 21 | (write ? 1u << 26 : 1u << 27));
  return rd(e, MDIC);
}

TEST(e1000_phy_over_mdic_autoneg_takes_500ms_then_lsc) {
  env e;
  env_init(&e);
  env_enable(&e);
  uint32_t v = mdic(&e, 1, 2, 0, 0);
  CHECK(v & (1u << 28));                                      /* READY */
  CHECK(!(v & (1u << 30)));
  CHECK_EQ(v & 0xffff, 0x0141);
  CHECK_EQ(mdic(&e, 1, 3, 0, 0) & 0xffff, 0x0c20);           /* M88E1011_I_PHY_ID 0x01410c20 */
  CHECK_EQ(mdic(&e, 1, 1, 0, 0) & 0xffff, 0x794d);           /* link up, AN not complete */
  CHECK(mdic(&e, 2, 1, 0, 0) & (1u << 30));                   /* another PHY address: ERROR */
  CHECK(mdic(&e, 1, 0x0f, 0, 0) & (1u << 30));                /* a register it lacks: ERROR */
  CHECK(rd(&e, MDIC) & (1u << 28));
  /* Linux's e1000_irq_enable, then the restart of auto-negotiation from e1000_setup_link. */
  wr(&e, IMS, 0x9d);                                          /* RXT0|TXDW|RXDMT0|RXSEQ|LSC */
  CHECK_EQ(rd(&e, IMS), 0x9d);
  fake_now = 1000;
  mdic(&e, 1, 0, 1, 0x1140 | 0x0200);                         /* AUTOEN | ANRESTART */
  CHECK_EQ(mdic(&e, 1, 0, 0, 0) & 0xffff, 0x1140);           /* ANRESTART clears itself */
  CHECK_EQ(rd(&e, STATUS) & 2, 0);                            /* link down meanwhile */
  CHECK_EQ(mdic(&e, 1, 1, 0, 0) & 0x24, 0);
  fake_now = 1000 + 499999999;
  dtimer_run(&e.clk);
  CHECK_EQ(rd(&e, STATUS) & 2, 0);
  CHECK_EQ(e.line[1], 0);
  fake_now = 1000 + 500000000;
  dtimer_run(&e.clk);
  CHECK_EQ(rd(&e, STATUS) & 2, 2);
  CHECK_EQ(mdic(&e, 1, 1, 0, 0) & 0xffff, 0x796d);           /* link and AN complete */
  CHECK(mdic(&e, 1, 5, 0, 0) & 0x4000);                       /* ANLPAR.ACK */
  CHECK_EQ(e.line[1], 1);                                     /* LSC is enabled */
  CHECK(pci_config_read(e.d, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
  CHECK_EQ(rd(&e, ICS), 4);                                   /* ICS reads as ICR, no clear */
  CHECK_EQ(rd(&e, ICR), 4);
  CHECK_EQ(rd(&e, ICR), 0);                                   /* read to clear */
  CHECK_EQ(e.line[1], 0);
  /* ICS sets causes, IMC masks them, IMS unmasks; writing ICR clears the bits written. */
  wr(&e, ICS, 0x10);
  CHECK_EQ(e.line[1], 1);
  wr(&e, IMC, 0x10);
  CHECK_EQ(e.line[1], 0);
  wr(&e, IMS, 0x10);
  CHECK_EQ(e.line[1], 1);
  wr(&e, ICR, 0x10);
  CHECK_EQ(e.line[1], 0);
  CHECK_EQ(rd(&e, ICR), 0);
  /* MDIC with INT_EN raises MDAC. */
  wr(&e, IMS, 0x200);
  wr(&e, MDIC, 1u << 16 | 1u << 21 | 1u << 27 | 1u << 29);
  CHECK_EQ(rd(&e, ICR), 0x200);
  /* The NIC base's link: down at once with LSC; up again at once (AN is complete). */
  nic_set_link(e.n, 0);
  CHECK_EQ(rd(&e, STATUS) & 2, 0);
  CHECK_EQ(mdic(&e, 1, 1, 0, 0) & 0x24, 0);
  CHECK_EQ(rd(&e, ICR), 4);
  fake_now += 2000000000;
  dtimer_run(&e.clk);
  CHECK_EQ(rd(&e, ICR), 0);                                   /* no autoneg while unplugged */
  nic_set_link(e.n, 1);
  CHECK_EQ(rd(&e, STATUS) & 2, 0);                            /* AN was lost: renegotiates */
  fake_now += 500000000;
  dtimer_run(&e.clk);
  CHECK_EQ(rd(&e, STATUS) & 2, 2);
  CHECK_EQ(rd(&e, ICR), 4);
  env_fini(&e);
}

/* ---- transmit and receive ---- */

TEST(e1000_transmits_a_legacy_descriptor_to_the_hub_as_uboot_does) {
  env e;
  env_init(&e);
  env_enable(&e);
  tx_setup(&e, 8);                                            /* U-Boot: TDLEN = 128 */
  uint8_t *f = gp(&e, TXBUF);
  for (int i = 0; i < 60; i++) f[i] = (uint8_t)(0xa0 + i);
  txd_legacy(&e, 0, TXBUF, 60, EOP | IFCS | RS, 0);
  wr(&e, IMS, 1);
  wr(&e, TDT, 1);
  CHECK_EQ(e.s.got, 1);
  CHECK_EQ(e.s.len[0], 60);
  CHECK(memcmp(e.s.data[0], f, 60) == 0);
  CHECK_EQ(gp(&e, TXRING)[12] & 1, 1);                        /* DD */
  CHECK_EQ(rd(&e, TDH), 1);
  CHECK_EQ(rd(&e, ICR), 3);                                   /* TXDW | TXQE */
  CHECK_EQ(counter(&e, "tx_frames"), 1);
  /* A frame in three pieces, and no report asked for: no DD, no TXDW. */
  txd_legacy(&e, 1, TXBUF, 20, 0, 0);
  txd_legacy(&e, 2, TXBUF + 20, 20, 0, 0);
  txd_legacy(&e, 3, TXBUF + 40, 20, EOP, 0);
  wr(&e, TDT, 4);
  CHECK_EQ(e.s.got, 2);
  CHECK_EQ(e.s.len[1], 60);
  CHECK(memcmp(e.s.data[1], f, 60) == 0);
  CHECK_EQ(gp(&e, TXRING + 48)[12] & 1, 0);
  CHECK_EQ(rd(&e, ICR), 2);
  /* Zero-length and runt frames are refused and counted. */
  txd_legacy(&e, 4, TXBUF, 0, EOP, 0);
  txd_legacy(&e, 5, TXBUF, 10, EOP, 0);
  wr(&e, TDT, 6);
  CHECK_EQ(e.s.got, 2);
  CHECK_EQ(counter(&e, "tx_runts"), 2);
  CHECK_EQ(e.n->port.tx.drops, 2);                            /* the port's count too */
  CHECK_EQ(rd(&e, TDH), 6);
  /* TCTL.EN off: nothing moves until it is set again. */
  wr(&e, TCTL, 0);
  txd_legacy(&e, 6, TXBUF, 60, EOP, 0);
  wr(&e, TDT, 7);
  CHECK_EQ(e.s.got, 2);
  wr(&e, TCTL, 0x0100010a);
  CHECK_EQ(e.s.got, 3);
  env_fini(&e);
}

TEST(e1000_receives_into_the_ring_with_fcs_length_and_filters) {
  env e;
  env_init(&e);
  env_enable(&e);
  rx_setup(&e, 8, 7, RCTL_EN | RCTL_BAM);
  wr(&e, IMS, 0x80);
  send_to(&e, mac, 100, 0x11);
  uint8_t *d = gp(&e, RXRING);
  CHECK_EQ(get16(d + 8), 104);                                /* + 4 FCS bytes without SECRC */
  CHECK_EQ(d[12], 1 | 2 | 4);                                 /* DD | EOP | IXSM */
  CHECK(memcmp(gp(&e, RXBUF), mac, 6) == 0);
  CHECK_EQ(gp(&e, RXBUF)[99], 0x11);
  CHECK_EQ(rd(&e, RDH), 1);
  CHECK_EQ(e.line[1], 1);
  CHECK_EQ(rd(&e, ICR) & 0x80, 0x80);
  /* A short frame is padded to 60; SECRC drops the FCS from the length. */
  wr(&e, RCTL, RCTL_EN | RCTL_BAM | RCTL_SECRC);
  gp(&e, RXBUF + 0x800 + 50)[0] = 0x77;
  send_to(&e, mac, 42, 0x22);
  CHECK_EQ(get16(gp(&e, RXRING + 16) + 8), 60);
  CHECK_EQ(gp(&e, RXBUF + 0x800)[41], 0x22);
  CHECK_EQ(gp(&e, RXBUF + 0x800)[50], 0);
  /* Filtering: another unicast address, a multicast not in the table: dropped; broadcast taken
   * with BAM; UPE and MPE take everything; the MTA hash takes its group. */
  static const uint8_t other[6] = {0x52, 0x54, 0, 0, 0, 1}, group[6] = {0x01, 0, 0x5e, 0, 0, 0xfb};
  static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  send_to(&e, other, 60, 0);
  send_to(&e, group, 60, 0);
  CHECK_EQ(rd(&e, RDH), 2);
  CHECK_EQ(counter(&e, "rx_filtered"), 2);
  send_to(&e, bcast, 60, 0);
  CHECK_EQ(rd(&e, RDH), 3);
  uint32_t f = ((uint32_t)group[5] << 8 | group[4]) >> 4 & 0xfff;   /* MO = 0 */
  wr(&e, MTA + 4 * (f >> 5), 1u << (f & 31));
  send_to(&e, group, 60, 0);
  CHECK_EQ(rd(&e, RDH), 4);
  wr(&e, RCTL, RCTL_EN | RCTL_UPE);
  send_to(&e, other, 60, 0);
  CHECK_EQ(rd(&e, RDH), 5);
  /* Oversize without LPE: refused and counted. */
  uint8_t big[1600];
  memset(big, 0, sizeof big);
  memcpy(big, mac, 6);
  net_port_send(&e.s.port, big, 1519);
  CHECK_EQ(rd(&e, RDH), 5);
  CHECK_EQ(counter(&e, "rx_oversize"), 1);
  CHECK_EQ(e.n->port.rx.drops, 1);                            /* filtered frames are no drops */
  CHECK_EQ(counter(&e, "rx_frames"), 5);
  env_fini(&e);
}

/* Linux 6.1 with NETIF_F_HW_CSUM: a context descriptor naming where the TCP checksum starts and
 * goes, the pseudo-header sum in the field, TXSM in the data descriptor; IXSM for the IP header. */
TEST(e1000_inserts_ip_and_tcp_checksums) {
  env e;
  env_init(&e);
  env_enable(&e);
  tx_setup(&e, 8);
  uint8_t *p = gp(&e, TXBUF);
  uint32_t len = build_tcp(p, 333, 0x18);
  pbe16(p + 16, (uint16_t)(len - 14));
  pbe16(p + 50, pseudo(p + 14, len - 34));
  ctx c = {14, 24, 34, 50, 0, 33, 0, 0, 0, CTX_TCP | CTX_IP};
  txd_context(&e, 0, &c);
  txd_data(&e, 1, TXBUF, len, EOP | IFCS | RS, 3);            /* IXSM | TXSM */
  wr(&e, TDT, 2);
  CHECK_EQ(e.s.got, 1);
  CHECK_EQ(e.s.len[0], len);
  CHECK(ip_ok(e.s.data[0] + 14));
  CHECK(l4_ok(e.s.data[0] + 14, 6));
  CHECK(memcmp(e.s.data[0] + 54, p + 54, 333) == 0);
  /* UDP: its checksum field at +6. */
  p[14 + 9] = 17;
  pbe16(p + 14 + 10, 0);
  uint8_t *udp = p + 34;
  pbe16(udp + 4, (uint16_t)(len - 34));
  pbe16(udp + 6, fold(sum16(0, p + 26, 8) + 17 + len - 34));
  ctx u = {14, 24, 34, 40, 0, 33, 0, 0, 0, CTX_IP};
  txd_context(&e, 2, &u);
  txd_data(&e, 3, TXBUF, len, EOP, 3);
  wr(&e, TDT, 4);
  CHECK_EQ(e.s.got, 2);
  CHECK(ip_ok(e.s.data[1] + 14));
  CHECK(l4_ok(e.s.data[1] + 14, 17));
  /* Offsets past the frame insert nothing and write nothing past it. */
  ctx bad = {14, 250, 34, 251, 0, 0, 0, 0, 0, CTX_TCP};
  txd_context(&e, 4, &bad);
  txd_data(&e, 5, TXBUF, 60, EOP, 3);
  wr(&e, TDT, 6);
  CHECK_EQ(e.s.got, 3);
  CHECK(memcmp(e.s.data[2], p, 60) == 0);
  env_fini(&e);
}

/* Linux's e1000_tso: the header in one descriptor, the payload in another, tot_len and the IP
 * checksum 0, the pseudo-header sum without length in the TCP checksum. */
static void tso_frame(env *e, int first, uint32_t payload, uint16_t mss, uint8_t flags) {
  uint8_t *p = gp(e, TXBUF);
  build_tcp(p, payload, flags);
  pbe16(p + 50, pseudo(p + 14, 0));
  ctx c = {14, 24, 34, 50, 54, 33, 0, mss, payload, CTX_TCP | CTX_IP | TSE};
  txd_context(e, first, &c);
  txd_data(e, first + 1, TXBUF, 54, TSE, 3);
  txd_data(e, first + 2, TXBUF + 54, payload, TSE | EOP | RS, 3);
}

TEST(e1000_tso_cuts_mss_segments_with_correct_headers_and_checksums) {
  env e;
  env_init(&e);
  env_enable(&e);
  tx_setup(&e, 8);
  tso_frame(&e, 0, 4000, 1448, 0x19);                         /* FIN | PSH | ACK */
  wr(&e, TDT, 3);
  CHECK_EQ(e.s.got, 3);
  const uint32_t pay[3] = {1448, 1448, 1104};
  for (int i = 0; i < 3 && i < e.s.got; i++) {
    const uint8_t *f = e.s.data[i], *ip = f + 14, *tcp = f + 34;
    CHECK_EQ(e.s.len[i], 54 + pay[i]);
    CHECK_EQ(be16(ip + 2), 40 + pay[i]);
    CHECK_EQ(be16(ip + 4), 0x1234 + i);
    CHECK(ip_ok(ip));
    CHECK(l4_ok(ip, 6));
    CHECK_EQ(be32(tcp + 4), 0x01020304u + 1448u * (uint32_t)i);
    CHECK_EQ(tcp[13], i == 2 ? 0x19 : 0x10);                  /* PSH, FIN on the last only */
    for (uint32_t k = 0; k < pay[i]; k += 97) CHECK_EQ(f[54 + k], (uint8_t)((1448 * i + k) * 7));
  }
  CHECK_EQ(counter(&e, "tso_frames"), 1);
  CHECK_EQ(counter(&e, "tso_segments"), 3);
  /* An exact multiple of the MSS: no empty tail segment. */
  tso_frame(&e, 3, 2 * 1000, 1000, 0x10);
  wr(&e, TDT, 6);
  CHECK_EQ(e.s.got, 5);
  CHECK_EQ(e.s.len[4], 1054);
  env_fini(&e);
}

TEST(e1000_vlan_insert_strip_and_phy_loopback) {
  env e;
  env_init(&e);
  env_enable(&e);
  tx_setup(&e, 8);
  rx_setup(&e, 8, 7, RCTL_EN | RCTL_BAM);
  wr(&e, CTRL, rd(&e, CTRL) | 1u << 30);                      /* VME */
  uint8_t *f = gp(&e, TXBUF);
  memset(f, 0x5a, 64);
  memcpy(f, peer, 6);
  txd_legacy(&e, 0, TXBUF, 64, EOP | VLE, 0x2005);
  wr(&e, TDT, 1);
  CHECK_EQ(e.s.got, 1);
  CHECK_EQ(e.s.len[0], 68);
  CHECK_EQ(be16(e.s.data[0] + 12), 0x8100);
  CHECK_EQ(be16(e.s.data[0] + 14), 0x2005);
  CHECK(memcmp(e.s.data[0] + 16, f + 12, 52) == 0);
  /* A tagged frame in: the tag goes to the descriptor (VP), the frame loses its 4 bytes. */
  uint8_t t[80];
  memset(t, 0x33, sizeof t);
  memcpy(t, mac, 6);
  memcpy(t + 6, peer, 6);
  pbe16(t + 12, 0x8100);
  pbe16(t + 14, 0x0007);
  pbe16(t + 16, 0x0800);
  net_port_send(&e.s.port, t, sizeof t);
  uint8_t *d = gp(&e, RXRING);
  CHECK_EQ(get16(d + 8), 80 - 4 + 4);
  CHECK_EQ(d[12], 1 | 2 | 4 | 8);
  CHECK_EQ(get16(d + 14), 0x0007);
  CHECK_EQ(be16(gp(&e, RXBUF) + 12), 0x0800);
  /* PHY loopback: the frame comes back into our own ring, not onto the wire. */
  wr(&e, CTRL, rd(&e, CTRL) & ~(1u << 30));
  mdic(&e, 1, 0, 1, 0x4140);
  memcpy(f, mac, 6);
  txd_legacy(&e, 1, TXBUF, 64, EOP, 0);
  wr(&e, TDT, 2);
  CHECK_EQ(e.s.got, 1);
  CHECK_EQ(rd(&e, RDH), 2);
  CHECK_EQ(get16(gp(&e, RXRING + 16) + 8), 68);
  /* No room in our own ring: dropped and counted (a looped frame has no port queue to wait in). */
  wr(&e, RDT, 2);
  txd_legacy(&e, 2, TXBUF, 64, EOP, 0);
  wr(&e, TDT, 3);
  CHECK_EQ(rd(&e, RDH), 2);
  CHECK_EQ(counter(&e, "loopback_drops"), 1);
  CHECK_EQ(e.s.got, 1);
  env_fini(&e);
}

/* ---- backpressure ---- */

TEST(e1000_holds_frames_at_the_port_until_the_driver_gives_buffers) {
  env e;
  env_init(&e);
  env_enable(&e);
  /* Receive not enabled yet: frames wait. */
  send_to(&e, mac, 60, 1);
  CHECK_EQ(e.n->port.qlen, 1);
  CHECK_EQ(counter(&e, "rx_held"), 1);
  rx_setup(&e, 8, 1, RCTL_EN | RCTL_BAM);                     /* U-Boot's one free slot */
  CHECK_EQ(e.n->port.qlen, 0);                                /* RCTL.EN let it in */
  CHECK_EQ(rd(&e, RDH), 1);
  send_to(&e, mac, 60, 2);
  send_to(&e, mac, 60, 3);
  CHECK_EQ(e.n->port.qlen, 2);
  CHECK(counter(&e, "rx_no_buffers") >= 1);
  CHECK_EQ(e.n->port.rx.drops, 0);
  wr(&e, RDT, 2);                                             /* one more buffer */
  CHECK_EQ(rd(&e, RDH), 2);
  CHECK_EQ(e.n->port.qlen, 1);
  CHECK_EQ(gp(&e, RXBUF + 0x800)[20], 2);
  wr(&e, RDT, 5);
  CHECK_EQ(rd(&e, RDH), 3);
  CHECK_EQ(e.n->port.qlen, 0);
  CHECK_EQ(gp(&e, RXBUF + 0x1000)[20], 3);
  /* Bus mastering off: held too; on again: delivered. */
  pci_config_write(e.d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
  send_to(&e, mac, 60, 4);
  CHECK_EQ(e.n->port.qlen, 1);
  pci_config_write(e.d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
  CHECK_EQ(e.n->port.qlen, 0);
  CHECK_EQ(rd(&e, RDH), 4);
  /* During auto-negotiation (STATUS.LU clear) frames wait for the link. */
  mdic(&e, 1, 0, 1, 0x1340);
  send_to(&e, mac, 60, 5);
  CHECK_EQ(e.n->port.qlen, 1);
  fake_now += 500000000;
  dtimer_run(&e.clk);
  CHECK_EQ(e.n->port.qlen, 0);
  CHECK_EQ(rd(&e, RDH), 5);
  CHECK_EQ(counter(&e, "rx_frames"), 5);
  CHECK_EQ(e.n->port.rx.drops, 0);
  env_fini(&e);
}

/* A doorbell that grants more than a pass may send: the rest goes on from a device timer. */
TEST(e1000_bounds_the_work_of_one_doorbell_and_finishes_it_on_a_timer) {
  env e;
  env_init(&e);
  env_enable(&e);
  tx_setup(&e, 128);
  memset(gp(&e, TXBUF), 0xee, 16000);
  for (int i = 0; i < 100; i++) txd_legacy(&e, i, TXBUF, 16000, EOP, 0);
  wr(&e, TDT, 100);
  int first = e.s.got;
  CHECK(first > 0 && first < 100);
  CHECK_EQ(counter(&e, "tx_deferred"), 1);
  CHECK_EQ(rd(&e, TDH), (uint32_t)first);
  wr(&e, TDT, 100);                                           /* a doorbell meanwhile waits */
  CHECK_EQ(e.s.got, first);
  dtimer_run(&e.clk);
  CHECK_EQ(e.s.got, 100);
  CHECK_EQ(rd(&e, TDH), 100);
  env_fini(&e);
}

/* ---- the CVE classes of QEMU's e1000 ---- */

/* CVE-2015-6815: a TSO context with MSS 0 made QEMU's split loop never advance. */
TEST(e1000_cve_2015_6815_tso_with_zero_mss_ends_and_is_refused) {
  env e;
  env_init(&e);
  env_enable(&e);
  tx_setup(&e, 16);
  tso_frame(&e, 0, 1000, 0, 0x10);
  wr(&e, TDT, 3);
  CHECK_EQ(e.s.got, 0);
  CHECK_EQ(rd(&e, TDH), 3);
  CHECK_EQ(counter(&e, "tso_refused"), 1);
  /* hdr_len 0, a header too short for the TCP fields, an MSS past the largest frame. */
  tso_frame(&e, 3, 1000, 500, 0x10);
  gp(&e, TXRING + 3 * 16)[13] = 0;
  tso_frame(&e, 6, 1000, 500, 0x10);
  gp(&e, TXRING + 6 * 16)[13] = 40;
  tso_frame(&e, 9, 1000, 0xffff, 0x10);
  wr(&e, TDT, 12);
  CHECK_EQ(e.s.got, 0);
  CHECK_EQ(rd(&e, TDH), 12);
  CHECK_EQ(counter(&e, "tso_refused"), 4);
  /* The card still works. */
  tso_frame(&e, 12, 1000, 500, 0x10);
  wr(&e, TDT, 15);
  CHECK_EQ(e.s.got, 2);
  env_fini(&e);
}

/* CVE-2016-1981: TDH/RDH never meeting TDT/RDT, heads beyond the ring, empty rings. */
TEST(e1000_cve_2016_1981_ring_walks_end_within_one_turn) {
  env e;
  env_init(&e);
  env_enable(&e);
  tx_setup(&e, 8);
  uint8_t *guard = gp(&e, TXRING + 8 * 16);
  memset(guard, 0xcc, 256);
  memset(gp(&e, TXBUF), 0, 60);
  for (int i = 0; i < 8; i++) txd_legacy(&e, i, TXBUF, 60, EOP | RS, 0);
  wr(&e, TDT, 20);                                            /* beyond the ring: never met */
  CHECK_EQ(e.s.got, 8);                                       /* one turn, then stop */
  CHECK_EQ(rd(&e, TDH), 0);
  CHECK_EQ(counter(&e, "bad_descriptors"), 1);
  wr(&e, TDH, 50);                                            /* head beyond the ring */
  wr(&e, TDT, 3);
  CHECK_EQ(e.s.got, 8);
  CHECK_EQ(counter(&e, "bad_descriptors"), 2);
  wr(&e, TDLEN, 0);                                           /* no ring at all */
  wr(&e, TDH, 0);
  wr(&e, TDT, 1);
  CHECK_EQ(e.s.got, 8);
  CHECK_EQ(counter(&e, "bad_descriptors"), 3);
  for (int i = 0; i < 256; i++) CHECK_EQ(guard[i], 0xcc);
  /* A ring in the card's own registers (MMIO): DMA refuses it. */
  wr(&e, TDLEN, 128);
  wr(&e, TDBAL, (uint32_t)MEMBASE);
  wr(&e, TDT, 2);
  CHECK_EQ(e.s.got, 8);
  CHECK_EQ(counter(&e, "dma_refused"), 1);
  /* Receive: tail beyond the ring, head beyond it, no ring, a ring in MMIO, null buffers. */
  rx_setup(&e, 8, 20, RCTL_EN | RCTL_BAM);
  uint8_t *rguard = gp(&e, RXRING + 8 * 16);
  memset(rguard, 0xcc, 256);
  send_to(&e, mac, 60, 1);
  wr(&e, RDT, 3);
  wr(&e, RDH, 9);
  send_to(&e, mac, 60, 1);
  wr(&e, RDH, 0);
  wr(&e, RDLEN, 0);
  send_to(&e, mac, 60, 1);
  CHECK_EQ(counter(&e, "bad_descriptors"), 6);
  CHECK_EQ(counter(&e, "rx_frames"), 0);
  CHECK_EQ(e.n->port.qlen, 0);                                /* refused for good, not held */
  wr(&e, RDLEN, 128);
  wr(&e, RDBAL, (uint32_t)MEMBASE);
  send_to(&e, mac, 60, 1);
  CHECK_EQ(counter(&e, "dma_refused"), 2);
  wr(&e, RDBAL, (uint32_t)RXRING);
  for (int i = 0; i < 8; i++) put64(gp(&e, RXRING + 16 * (uint64_t)i), 0);
  wr(&e, RDH, 0);
  wr(&e, RDT, 7);
  send_to(&e, mac, 60, 1);                                    /* skips all 7, stops at RDT */
  CHECK_EQ(rd(&e, RDH), 7);
  CHECK_EQ(counter(&e, "bad_descriptors"), 7);
  for (int i = 0; i < 256; i++) CHECK_EQ(rguard[i], 0xcc);
  /* A buffer that runs out of RAM: refused, and the ring goes on. */
  rx_setup(&e, 8, 7, RCTL_EN | RCTL_BAM);
  put64(gp(&e, RXRING), RAM + RAMSZ - 10);
  send_to(&e, mac, 60, 1);
  CHECK_EQ(counter(&e, "dma_refused"), 3);
  CHECK_EQ(rd(&e, RDH), 1);
  env_fini(&e);
}

/* CVE-2021-20257: a plain data descriptor fills the buffer past header + MSS, then a TSE one
 * follows: QEMU's msh - size wrapped. Also the re-entrancy class: a frame sent makes the other
 * end ring the doorbell again from inside the send. */
static void reenter(sink *s) { wr(s->ud, TDT, 7); }

TEST(e1000_cve_2021_20257_evil_tso_descriptors_and_tx_reentry) {
  env e;
  env_init(&e);
  env_enable(&e);
  tx_setup(&e, 8);
  uint8_t *p = gp(&e, TXBUF);
  build_tcp(p, 2000, 0x10);
  ctx c = {14, 24, 34, 50, 54, 33, 0, 100, 2000, CTX_TCP | CTX_IP | TSE};
  txd_context(&e, 0, &c);
  txd_data(&e, 1, TXBUF, 1000, 0, 3);                          /* no TSE: 1000 > 54 + 100 */
  txd_data(&e, 2, TXBUF + 1000, 1000, TSE | EOP, 3);
  uint8_t *after = gp(&e, TXBUF + 0x10000);
  memset(after, 0xcc, 64);
  wr(&e, TDT, 3);
  CHECK_EQ(e.s.got, 0);
  CHECK_EQ(rd(&e, TDH), 3);
  CHECK_EQ(counter(&e, "tso_refused"), 1);
  for (int i = 0; i < 64; i++) CHECK_EQ(after[i], 0xcc);
  /* A huge legacy frame over many descriptors: clamped to the buffer, refused as oversize. */
  wr(&e, TDH, 0);
  wr(&e, TDT, 0);
  for (int i = 0; i < 5; i++) txd_legacy(&e, i, TXBUF, 0xffff, i == 4 ? EOP : 0, 0);
  wr(&e, TDT, 5);
  CHECK_EQ(e.s.got, 0);
  CHECK_EQ(counter(&e, "tx_oversize"), 1);
  /* Re-entry: the peer rings the doorbell while the card is sending to it. */
  e.s.hook = reenter;
  e.s.ud = &e;
  memset(p, 0, 60);
  memcpy(p, peer, 6);
  txd_legacy(&e, 5, TXBUF, 60, EOP, 0);
  txd_legacy(&e, 6, TXBUF, 60, EOP, 0);
  wr(&e, TDT, 7);
  CHECK_EQ(e.s.got, 2);
  CHECK_EQ(counter(&e, "tx_reentered"), 2);
  CHECK_EQ(rd(&e, TDH), 7);
  env_fini(&e);
}

/* ---- a random hostile driver ---- */

static uint32_t lcg(uint32_t *st) {
  *st = *st * 1103515245u + 12345u;
  return *st >> 8;
}

/* An address: mostly inside the first 128 KiB of RAM (rings and buffers), sometimes anywhere. */
static uint64_t some_addr(uint32_t *st) {
  uint32_t r = lcg(st);
  if (r % 8 == 0) return (uint64_t)lcg(st) << 8 ^ lcg(st);
  if (r % 8 == 1) return RAM + RAMSZ - lcg(st) % 64;
  return RAM + lcg(st) % 0x20000;
}

/* A descriptor of any kind, mostly plausible: legacy, context (TSO or not, sane or not), data. */
static void some_desc(env *e, uint32_t *st, uint8_t *d) {
  uint32_t kind = lcg(st) % 8, len = lcg(st) % 8 ? lcg(st) % 2048 : lcg(st) & 0xffff;
  uint32_t cmd = (lcg(st) % 3 ? EOP : 0) | (lcg(st) % 2 ? RS : 0) | (lcg(st) % 4 ? 0 : VLE);
  put64(d, lcg(st) % 8 ? TXBUF + lcg(st) % 0x8000 : some_addr(st));
  put32(d + 8, len | cmd);
  put32(d + 12, lcg(st) << 8 ^ lcg(st));
  if (kind == 0) {                                      /* noise */
    put32(d + 8, lcg(st) << 8 ^ lcg(st));
  } else if (kind <= 2) {                               /* a context */
    ctx c = {14, 24, 34, 50, 54, 33, 0, (uint16_t)(lcg(st) % 1600), lcg(st) % 70000,
             CTX_TCP | CTX_IP | (lcg(st) % 3 ? TSE : 0)};
    if (lcg(st) % 4 == 0) {
      c.ipcss = (uint8_t)lcg(st); c.tucss = (uint8_t)lcg(st); c.tucso = (uint8_t)lcg(st);
      c.hdr_len = (uint8_t)lcg(st); c.ipcse = (uint16_t)lcg(st); c.tucse = (uint16_t)lcg(st);
    }
    uint8_t *ring = gp(e, TXRING);
    if (d < ring || d >= ring + 64 * 16) return;
    txd_context(e, (int)((d - ring) / 16), &c);
  } else if (kind <= 5) {                               /* data, TSE or not, any checksums */
    put32(d + 8, (len & 0xfffff) | DEXT | DTYP_D | cmd | (lcg(st) % 2 ? TSE : 0));
    put32(d + 12, (lcg(st) % 4) << 8);
  }
}

/* Fixed seeds, so a failure repeats: descriptors, contexts, registers and frames at random, the
 * clock running. The card must survive it (ASan watches the host side), keep its walks bounded,
 * and work again after a reset. */
TEST(e1000_survives_a_random_hostile_driver) {
  static const uint32_t regs[] = {CTRL, TCTL, TDBAL, TDBAH, TDLEN, TDH, TDT, RCTL, RDBAL, RDBAH,
                                  RDLEN, RDH, RDT, MDIC, EECD, EERD, ICR, ICS, IMS, IMC, VET, RA,
                                  MTA, TDT, TDT, TDT, RDT, RDT};
  uint64_t sent = 0, segs = 0, got = 0;
  for (uint32_t seed = 1; seed <= 8; seed++) {
    env e;
    env_init(&e);
    env_enable(&e);
    uint32_t st = seed;
    tx_setup(&e, 64);
    rx_setup(&e, 64, 63, RCTL_EN | RCTL_BAM | RCTL_UPE);
    for (int i = 0; i < 4000; i++) {
      uint32_t r = lcg(&st) % 16;
      if (r < 6) {                                      /* descriptors, mostly in the rings */
        uint64_t at = lcg(&st) % 4 ? TXRING + (lcg(&st) % 64) * 16 : RAM + (lcg(&st) % 0x2000) * 16;
        some_desc(&e, &st, gp(&e, at));
      } else if (r < 12) {                              /* a register */
        uint32_t reg = regs[lcg(&st) % (sizeof regs / sizeof regs[0])], v = lcg(&st) << 8 ^ lcg(&st);
        if (reg == TDBAL || reg == RDBAL) v = (uint32_t)(lcg(&st) % 4 ? (reg == TDBAL ? TXRING : RXRING) : some_addr(&st));
        if (reg == TDBAH || reg == RDBAH) v = lcg(&st) % 8 ? 0 : v;
        if (reg == TDLEN || reg == RDLEN) v = (lcg(&st) % 4 ? 64 : lcg(&st) % 66) * 128;
        if (reg == TDH || reg == TDT || reg == RDH || reg == RDT) v %= lcg(&st) % 8 ? 64 : 200;
        if (reg == TCTL) v = lcg(&st) % 8 ? v | 2 : v;
        if (reg == RCTL) v = lcg(&st) % 8 ? (v | 2) & ~(1u << 26 | 3u << 16 | 1u << 25) : v;
        if (reg == CTRL) v = lcg(&st) % 2 ? 0x00140240 : v;
        if (reg == MDIC) v = (v & ~(31u << 21)) | (lcg(&st) % 4 ? 1u << 21 : v & (31u << 21));
        wr(&e, reg, v);
      } else if (r < 15) {                              /* a frame from the wire */
        static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        send_to(&e, lcg(&st) % 2 ? mac : bcast, 14 + lcg(&st) % 2000, (uint8_t)lcg(&st));
      } else {
        fake_now += lcg(&st) % 600000000;
        dtimer_run(&e.clk);
      }
    }
    fake_now += 1000000000;
    dtimer_run(&e.clk);
    CHECK(e.n->port.qlen <= 1024);
    sent += counter(&e, "tx_frames");
    segs += counter(&e, "tso_segments");
    got += counter(&e, "rx_frames");
    /* A reset, and the card works as new. */
    pci_dev_reset(e.d);
    env_enable(&e);
    CHECK_EQ(rd(&e, CTRL), 0x00140240);
    e.s.got = 0;
    tx_setup(&e, 8);
    memset(gp(&e, TXBUF), 0, 60);
    txd_legacy(&e, 0, TXBUF, 60, EOP | RS, 0);
    wr(&e, TDT, 1);
    CHECK_EQ(e.s.got, 1);
    env_fini(&e);
  }
  printf("# random drivers: %llu frames sent, %llu of them TSO segments, %llu received\n",
         (unsigned long long)sent, (unsigned long long)segs, (unsigned long long)got);
  CHECK(sent > 1000 && segs > 100 && got > 1000);             /* the paths were exercised */
}
