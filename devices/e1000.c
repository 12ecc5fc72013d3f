/* e1000: the Intel 82540EM register file, EEPROM, PHY, interrupts and descriptor engines, with the
 * behaviour QEMU 7.2 gives them (hw/net/e1000.c) where a driver can tell, and checks QEMU's CVE
 * fixes call for everywhere a guest hands the card an address, a length or an index. */
#include "e1000.h"

#include <stdlib.h>
#include <string.h>

#include "inet.h"

/* ---- registers (byte offsets in BAR0) ---- */
enum {
  CTRL = 0x0000, STATUS = 0x0008, EECD = 0x0010, EERD = 0x0014, CTRL_EXT = 0x0018, MDIC = 0x0020,
  FCAL = 0x0028, FCAH = 0x002c, FCT = 0x0030, VET = 0x0038, ICR = 0x00c0, ITR = 0x00c4,
  ICS = 0x00c8, IMS = 0x00d0, IMC = 0x00d8, RCTL = 0x0100, FCTTV = 0x0170, TCTL = 0x0400,
  TIPG = 0x0410, AIT = 0x0458, LEDCTL = 0x0e00, PBA = 0x1000, FCRTL = 0x2160, FCRTH = 0x2168,
  RDFH = 0x2410, RDFT = 0x2418, RDFHS = 0x2420, RDFTS = 0x2428, RDFPC = 0x2430, RDBAL = 0x2800,
  RDBAH = 0x2804, RDLEN = 0x2808, RDH = 0x2810, RDT = 0x2818, RDTR = 0x2820, RADV = 0x282c,
  TDFH = 0x3410, TDFT = 0x3418, TDFHS = 0x3420, TDFTS = 0x3428, TDFPC = 0x3430, TDBAL = 0x3800,
  TDBAH = 0x3804, TDLEN = 0x3808, TDH = 0x3810, TDT = 0x3818, TIDV = 0x3820, TXDCTL = 0x3828,
  TADV = 0x382c, FCRUC = 0x4058, RXCSUM = 0x5000, MTA = 0x5200, RA = 0x5400, VFTA = 0x5600,
  WUC = 0x5800, WUFC = 0x5808, WUS = 0x5810, MANC = 0x5820, IPAV = 0x5838, IP4AT = 0x5840,
  IP6AT = 0x5880, WUPM = 0x5a00, SWSM = 0x5b50, FFLT = 0x5f00, FFMT = 0x9000, FFVT = 0x9800,
  PBM = 0x10000,
};
#define MMIO_SIZE 0x20000u
#define IO_SIZE 0x40u
#define R(s, off) ((s)->reg[(off) >> 2])

enum { CTRL_SLU = 1u << 6, CTRL_SPD_1000 = 1u << 9, CTRL_SWDPIN0 = 1u << 18,
       CTRL_SWDPIN2 = 1u << 20, CTRL_RST = 1u << 26, CTRL_VME = 1u << 30 };
enum { STATUS_FD = 1u << 0, STATUS_LU = 1u << 1, STATUS_SPEED_1000 = 1u << 7,
       STATUS_ASDV = 3u << 8, STATUS_MTXCKOK = 1u << 10, STATUS_GIO_MASTER = 1u << 19 };
enum { EECD_SK = 1u << 0, EECD_CS = 1u << 1, EECD_DI = 1u << 2, EECD_DO = 1u << 3,
       EECD_FWE = 3u << 4, EECD_REQ = 1u << 6, EECD_GNT = 1u << 7, EECD_PRES = 1u << 8 };
enum { EERD_START = 1u << 0, EERD_DONE = 1u << 4, EERD_ADDR_SHIFT = 8, EERD_DATA_SHIFT = 16 };
enum { MDIC_OP_WRITE = 1u << 26, MDIC_OP_READ = 1u << 27, MDIC_READY = 1u << 28,
       MDIC_INT_EN = 1u << 29, MDIC_ERROR = 1u << 30 };
enum { ICR_TXDW = 1u << 0, ICR_TXQE = 1u << 1, ICR_LSC = 1u << 2, ICR_RXDMT0 = 1u << 4,
       ICR_RXT0 = 1u << 7, ICR_MDAC = 1u << 9 };
enum { RCTL_EN = 1u << 1, RCTL_SBP = 1u << 2, RCTL_UPE = 1u << 3, RCTL_MPE = 1u << 4,
       RCTL_LPE = 1u << 5, RCTL_RDMTS_QUAT = 1u << 8, RCTL_MO_SHIFT = 12, RCTL_BAM = 1u << 15,
       RCTL_SZ = 3u << 16, RCTL_VFE = 1u << 18, RCTL_BSEX = 1u << 25, RCTL_SECRC = 1u << 26 };
enum { TCTL_EN = 1u << 1 };
enum { RAH_AV = 1u << 31 };
enum { MANC_RMCP_EN = 1u << 8, MANC_0298_EN = 1u << 9, MANC_ARP_EN = 1u << 13,
       MANC_RCV_TCO_EN = 1u << 17, MANC_EN_MNG2HOST = 1u << 21 };

/* Descriptor fields. */
enum { TXD_DTYP_D = 1u << 20, TXD_EOP = 1u << 24, TXD_TCP = 1u << 24, TXD_IP = 1u << 25,
       TXD_TSE = 1u << 26, TXD_RS = 1u << 27, TXD_RPS = 1u << 28, TXD_DEXT = 1u << 29,
       TXD_VLE = 1u << 30 };
enum { TXD_STAT_DD = 1u << 0, TXD_STAT_EC = 1u << 1, TXD_STAT_LC = 1u << 2, TXD_STAT_TU = 1u << 3 };
enum { POPTS_IXSM = 1, POPTS_TXSM = 2 };
enum { RXD_STAT_DD = 1, RXD_STAT_EOP = 2, RXD_STAT_IXSM = 4, RXD_STAT_VP = 8 };

/* ---- the PHY (an M88E1011 at MDIO address 1) ---- */
enum { PHY_BMCR = 0, PHY_BMSR = 1, PHY_ID1 = 2, PHY_ID2 = 3, PHY_ANAR = 4, PHY_ANLPAR = 5,
       PHY_ANER = 6, PHY_CTRL1000 = 9, PHY_STAT1000 = 10, PHY_M88_PSCR = 0x10,
       PHY_M88_PSSR = 0x11, PHY_M88_EPSCR = 0x14, PHY_M88_RX_ERR = 0x15 };
enum { BMCR_SPEED1000 = 1u << 6, BMCR_FD = 1u << 8, BMCR_ANRESTART = 1u << 9,
       BMCR_AUTOEN = 1u << 12, BMCR_LOOPBACK = 1u << 14, BMCR_RESET = 1u << 15 };
enum { BMSR_EXTCAP = 1u << 0, BMSR_LINK = 1u << 2, BMSR_AUTONEG = 1u << 3, BMSR_AN_COMP = 1u << 5,
       BMSR_MFPS = 1u << 6, BMSR_EXTSTAT = 1u << 8, BMSR_10T_HD = 1u << 11,
       BMSR_10T_FD = 1u << 12, BMSR_100TX_HD = 1u << 13, BMSR_100TX_FD = 1u << 14 };
enum { ANLPAR_ACK = 1u << 14 };
enum { PHY_R = 1, PHY_W = 2 };

static const uint8_t phy_access[32] = {
  [PHY_BMCR] = PHY_R | PHY_W, [PHY_BMSR] = PHY_R, [PHY_ID1] = PHY_R, [PHY_ID2] = PHY_R,
  [PHY_ANAR] = PHY_R | PHY_W, [PHY_ANLPAR] = PHY_R, [PHY_ANER] = PHY_R,
  [PHY_CTRL1000] = PHY_R | PHY_W, [PHY_STAT1000] = PHY_R, [PHY_M88_PSCR] = PHY_R | PHY_W,
  [PHY_M88_PSSR] = PHY_R, [PHY_M88_EPSCR] = PHY_R | PHY_W, [PHY_M88_RX_ERR] = PHY_R,
};

static const uint16_t phy_init[32] = {
  [PHY_BMCR] = BMCR_SPEED1000 | BMCR_FD | BMCR_AUTOEN,
  /* Link up, auto-negotiation not yet complete: the driver's restart completes it. */
  [PHY_BMSR] = BMSR_EXTCAP | BMSR_LINK | BMSR_AUTONEG | BMSR_MFPS | BMSR_EXTSTAT | BMSR_10T_HD |
               BMSR_10T_FD | BMSR_100TX_HD | BMSR_100TX_FD,
  [PHY_ID1] = 0x0141, [PHY_ID2] = 0x0c20,
  [PHY_ANAR] = 0x0de1, [PHY_ANLPAR] = 0x01e0, [PHY_CTRL1000] = 0x0e00, [PHY_STAT1000] = 0x3c00,
  [PHY_M88_PSCR] = 0x0360, [PHY_M88_PSSR] = 0xac00, [PHY_M88_EPSCR] = 0x0d60,
};

/* QEMU's EEPROM image (8254x manual, tables 5-2 and 5-3): words 0-2 become the MAC, 11 and 13
 * the device ID, 63 the checksum. */
static const uint16_t eeprom_template[64] = {
  0x0000, 0x0000, 0x0000, 0x0000, 0xffff, 0x0000, 0x0000, 0x0000,
  0x3000, 0x1000, 0x6403, 0x0000, 0x8086, 0x0000, 0x8086, 0x3040,
  0x0008, 0x2000, 0x7e14, 0x0048, 0x1000, 0x00d8, 0x0000, 0x2700,
  0x6cc9, 0x3150, 0x0722, 0x040b, 0x0984, 0x0000, 0xc000, 0x0706,
  0x1008, 0x0000, 0x0f04, 0x7fff, 0x4d01, 0xffff, 0xffff, 0xffff,
  0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
  0x0100, 0x4000, 0x121c, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
  0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0x0000,
};
#define DEVICE_ID 0x100e
#define EEPROM_SUM 0xbaba
#define EEPROM_READ_OPCODE 6             /* Microwire READ, 3 bits */

/* ---- limits ---- */
#define TX_BUF 0x10000u                  /* the assembly buffer, as QEMU's */
#define TX_MAX 16384u                    /* the largest frame sent (82540 jumbo limit) */
#define TSO_EMIT_MAX (256u << 10)        /* bytes one TSO frame may put on the wire */
#define TX_PASS_BYTES (1u << 20)         /* sent before the rest waits for a device timer */
#define RX_MAX_SHORT (14u + 4u + 1500u)  /* accepted without RCTL.LPE */
#define RX_MAX_LONG (16384u - 4u)        /* accepted with LPE (SBP takes anything) */
#define AUTONEG_NS 500000000ull

#define E1000_COUNTERS(X)                                                                  \
  X(tx_frames) X(tso_frames) X(tso_segments) X(tx_runts) X(tx_oversize) X(tso_refused)      \
  X(tx_reentered) X(tx_deferred) X(rx_frames) X(rx_held) X(rx_no_buffers) X(rx_filtered)   \
  X(rx_oversize) X(rx_too_big) X(loopback_drops) X(bad_descriptors) X(dma_refused)

typedef struct counters {
#define X(n) uint64_t n;
  E1000_COUNTERS(X)
#undef X
} counters;

/* What a context descriptor sets up (one set for TSO, one for plain checksums, as QEMU keeps). */
typedef struct txprops {
  uint8_t ipcss, ipcso, tucss, tucso, hdr_len;
  uint16_t ipcse, tucse, mss;
  uint32_t paylen;
  int ip, tcp;
} txprops;

typedef struct e1000 {
  nic base;
  pci_dev pci;
  dtimer autoneg;                 /* the PHY's restart completing */
  dtimer txmore;                  /* a transmit pass over its byte budget goes on here */
  uint32_t reg[MMIO_SIZE / 4];
  uint16_t phy[32];
  uint16_t eeprom[64];
  struct { uint32_t val_in, old; uint16_t bits_in, bits_out; int reading; } ee;
  uint32_t rxbuf_size, rx_min_shift;
  struct {
    txprops props, tso;
    uint32_t size;                /* bytes assembled in data */
    uint32_t segs;                /* TSO segments sent of this frame */
    uint64_t emitted;             /* bytes this TSO frame put on the wire */
    uint8_t sum_needed;
    int cptse, vlan_needed, bad;  /* bad: a check failed; the frame is dropped at EOP */
    uint8_t vlan[4];
    int busy;                     /* a pass is running: no re-entry */
    int walking;                  /* a doorbell's grant is open */
    uint32_t walk_start, walk_steps;
    uint64_t spent;               /* bytes sent since the last timer pass */
    uint8_t header[256];
    uint8_t data[TX_BUF];
    uint8_t out[TX_MAX + 4];
  } tx;
  uint8_t rxbuf[NET_FRAME_MAX + 1];
  counters cnt;
} e1000;

/* ---- little helpers ---- */

static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t ld32(const uint8_t *p) { return (uint32_t)ld16(p) | (uint32_t)ld16(p + 2) << 16; }
static uint64_t ld64(const uint8_t *p) { return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32; }
static void st16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void st32(uint8_t *p, uint32_t v) { st16(p, (uint16_t)v); st16(p + 2, (uint16_t)(v >> 16)); }
static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void stbe16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint32_t be32(const uint8_t *p) { return (uint32_t)be16(p) << 16 | be16(p + 2); }
static void stbe32(uint8_t *p, uint32_t v) {
  stbe16(p, (uint16_t)(v >> 16));
  stbe16(p + 2, (uint16_t)v);
}
static uint32_t min32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* ---- interrupts ---- */

/* ICS reads as ICR does (without the clear); the line is up while an unmasked cause is set.
 * Mitigation (ITR, RADV, TADV) is not modelled: interrupts fire at once. */
static void set_causes(e1000 *s, uint32_t v) {
  R(s, ICR) = R(s, ICS) = v;
  pci_set_irq(&s->pci, (R(s, IMS) & v) != 0);
}

static void post(e1000 *s, uint32_t cause) { set_causes(s, R(s, ICR) | cause); }

/* ---- link and PHY ---- */

static int rx_ready(const e1000 *s);

/* Frames held at the port may come in now. */
static void rx_kick(e1000 *s) {
  if (rx_ready(s)) net_port_ready(&s->base.port);
}

static void link_down_regs(e1000 *s) {
  R(s, STATUS) &= ~(uint32_t)STATUS_LU;
  s->phy[PHY_BMSR] &= (uint16_t)~(BMSR_LINK | BMSR_AN_COMP);
  s->phy[PHY_ANLPAR] &= (uint16_t)~ANLPAR_ACK;
}

static void link_up_regs(e1000 *s) {
  R(s, STATUS) |= STATUS_LU;
  s->phy[PHY_BMSR] |= BMSR_LINK;
}

static int have_autoneg(const e1000 *s) { return (s->phy[PHY_BMCR] & BMCR_AUTOEN) != 0; }

/* The link drops at once and comes back 500 ms of guest time later, as QEMU's PHY does. */
static void restart_autoneg(e1000 *s) {
  link_down_regs(s);
  dtimer_arm(&s->autoneg, AUTONEG_NS);
}

static void autoneg_done(dtimer *t) {
  e1000 *s = t->ud;
  if (!s->base.link_up) return;
  link_up_regs(s);
  s->phy[PHY_ANLPAR] |= ANLPAR_ACK;
  s->phy[PHY_BMSR] |= BMSR_AN_COMP;
  post(s, ICR_LSC);
  rx_kick(s);
}

/* nic_set_link: tell the driver the way the card would (STATUS.LU, BMSR, LSC). */
static void link_changed(nic *n) {
  e1000 *s = n->port.owner;
  uint32_t was = R(s, STATUS);
  if (!n->link_up) link_down_regs(s);
  else if (have_autoneg(s) && !(s->phy[PHY_BMSR] & BMSR_AN_COMP)) restart_autoneg(s);
  else { link_up_regs(s); rx_kick(s); }
  if (R(s, STATUS) != was) post(s, ICR_LSC);
}

static void phy_write(e1000 *s, uint32_t reg, uint16_t v) {
  if (reg != PHY_BMCR) { s->phy[reg] = v; return; }
  /* Bits 0-5 are reserved; RESET and ANRESTART clear themselves. */
  s->phy[PHY_BMCR] = v & (uint16_t)~(0x3f | BMCR_RESET | BMCR_ANRESTART);
  if (have_autoneg(s) && (v & BMCR_ANRESTART)) restart_autoneg(s);
}

/* MDIC completes at once (READY); another PHY address or a register the PHY lacks sets ERROR. */
static void mdic_write(e1000 *s, uint32_t val) {
  uint32_t reg = (val >> 16) & 0x1f, phyaddr = (val >> 21) & 0x1f;
  if (phyaddr != 1) {
    val = R(s, MDIC) | MDIC_ERROR;
  } else if (val & MDIC_OP_READ) {
    if (!(phy_access[reg] & PHY_R)) val |= MDIC_ERROR;
    else val = (val & ~0xffffu) | s->phy[reg];
  } else if (val & MDIC_OP_WRITE) {
    if (!(phy_access[reg] & PHY_W)) val |= MDIC_ERROR;
    else phy_write(s, reg, (uint16_t)val);
  }
  R(s, MDIC) = val | MDIC_READY;
  if (val & MDIC_INT_EN) post(s, ICR_MDAC);
}

/* ---- EEPROM ---- */

static void eeprom_build(e1000 *s) {
  memcpy(s->eeprom, eeprom_template, sizeof s->eeprom);
  const uint8_t *m = s->base.mac;
  for (int i = 0; i < 3; i++) s->eeprom[i] = (uint16_t)(m[2 * i] | m[2 * i + 1] << 8);
  s->eeprom[11] = s->eeprom[13] = DEVICE_ID;
  uint16_t sum = 0;
  for (int i = 0; i < 63; i++) sum = (uint16_t)(sum + s->eeprom[i]);
  s->eeprom[63] = (uint16_t)(EEPROM_SUM - sum);
}

/* Microwire as QEMU's: DO shows the current bit of the word being read (1 when idle). */
static uint32_t eecd_read(e1000 *s) {
  uint32_t v = EECD_PRES | EECD_GNT | s->ee.old;
  uint16_t bit = s->ee.bits_out;
  if (!s->ee.reading || ((s->eeprom[(bit >> 4) & 0x3f] >> ((bit & 0xf) ^ 0xf)) & 1)) v |= EECD_DO;
  return v;
}

static void eecd_write(e1000 *s, uint32_t val) {
  uint32_t was = s->ee.old;
  s->ee.old = val & (EECD_SK | EECD_CS | EECD_DI | EECD_FWE | EECD_REQ);
  if (!(val & EECD_CS)) return;
  if ((val ^ was) & EECD_CS) {                  /* chip select rises: a new command */
    s->ee.val_in = 0;
    s->ee.bits_in = s->ee.bits_out = 0;
    s->ee.reading = 0;
  }
  if (!((val ^ was) & EECD_SK)) return;
  if (!(val & EECD_SK)) { s->ee.bits_out++; return; }   /* falling edge: the next bit out */
  s->ee.val_in = s->ee.val_in << 1 | ((val & EECD_DI) ? 1 : 0);
  if (++s->ee.bits_in == 9 && !s->ee.reading) {          /* opcode and 6-bit address are in */
    s->ee.bits_out = (uint16_t)(((s->ee.val_in & 0x3f) << 4) - 1);
    s->ee.reading = ((s->ee.val_in >> 6) & 7) == EEPROM_READ_OPCODE;
  }
}

static uint32_t eerd_read(e1000 *s) {
  uint32_t v = R(s, EERD);
  if (!(v & EERD_START)) return v;
  uint32_t r = v & ~(uint32_t)EERD_START, i = r >> EERD_ADDR_SHIFT;
  if (i > 63) return EERD_DONE | r;
  return (uint32_t)s->eeprom[i] << EERD_DATA_SHIFT | EERD_DONE | r;
}

/* ---- transmit ---- */

/* Inserts the checksum of d[css..cse] (to the end when cse is 0) at sloc, if all of it lies in
 * the n bytes of the frame. 0 is sent as 0xffff (UDP's "no checksum" must not appear). */
static void put_csum(uint8_t *d, uint32_t n, uint32_t sloc, uint32_t css, uint32_t cse) {
  if (cse && cse < n) n = cse + 1;
  if (css >= n || sloc + 2 > n) return;
  uint16_t c = inet_checksum(inet_sum(0, d + css, n - css));
  stbe16(d + sloc, c ? c : 0xffff);
}

static void read_context(txprops *p, const uint8_t *d) {
  uint32_t op = ld32(d + 8);
  p->ipcss = d[0];
  p->ipcso = d[1];
  p->ipcse = ld16(d + 2);
  p->tucss = d[4];
  p->tucso = d[5];
  p->tucse = ld16(d + 6);
  p->paylen = op & 0xfffff;
  p->hdr_len = d[13];
  p->mss = ld16(d + 14);
  p->ip = (op & TXD_IP) != 0;
  p->tcp = (op & TXD_TCP) != 0;
}

static int rx_frame(e1000 *s, const uint8_t *data, uint32_t len, int may_hold);

/* A frame leaves the card: refused if it is a runt or too long, VLAN-tagged if asked, looped
 * back to our own receive ring if the PHY is in loopback (no recursion: receive never sends). */
static void send_frame(e1000 *s, const uint8_t *buf, uint32_t len) {
  if (len < NET_FRAME_MIN || len > TX_MAX) {
    if (len < NET_FRAME_MIN) s->cnt.tx_runts++;
    else s->cnt.tx_oversize++;
    s->base.port.tx.drops++;                    /* the port's count of malformed frames */
    return;
  }
  if (s->tx.vlan_needed) {
    memcpy(s->tx.out, buf, 12);
    memcpy(s->tx.out + 12, s->tx.vlan, 4);
    memcpy(s->tx.out + 16, buf + 12, len - 12);
    buf = s->tx.out;
    len += 4;
  }
  s->tx.spent += len;
  s->cnt.tx_frames++;
  if (s->phy[PHY_BMCR] & BMCR_LOOPBACK) rx_frame(s, buf, len, 0);
  else net_port_send(&s->base.port, buf, len);
}

/* Header offsets a TSO context names must lie inside the header it replicates. */
static int tso_ok(const txprops *p, uint8_t sum_needed) {
  uint32_t h = p->hdr_len;
  if (p->mss == 0 || h == 0 || h + p->mss > TX_MAX) return 0;
  if (p->ipcss + 6u > h) return 0;                         /* IPv4 length and ID, IPv6 length */
  if (p->tucss + (p->tcp ? 14u : 6u) > h) return 0;        /* TCP sequence and flags, UDP length */
  if ((sum_needed & POPTS_TXSM) && p->tucso + 2u > h) return 0;
  return 1;
}

/* One segment of a TSO frame: lengths, IP ID, sequence number, flags and the pseudo-header
 * length, as the 8254x manual and QEMU's xmit_seg fix them. tso_ok vouched for the offsets. */
static void tso_fixup(e1000 *s) {
  const txprops *p = &s->tx.tso;
  uint8_t *d = s->tx.data;
  uint32_t css = p->ipcss, frames = s->tx.segs, size = s->tx.size;
  if (p->ip) {
    stbe16(d + css + 2, (uint16_t)(size - css));
    stbe16(d + css + 4, (uint16_t)(be16(d + css + 4) + frames));
  } else {
    stbe16(d + css + 4, (uint16_t)(size - css));
  }
  css = p->tucss;
  uint32_t len = size - css;
  if (p->tcp) {
    uint32_t sofar = frames * p->mss;
    stbe32(d + css + 4, be32(d + css + 4) + sofar);
    if (p->paylen - sofar > p->mss) d[css + 13] &= (uint8_t)~9;   /* PSH, FIN: last only */
  } else {
    stbe16(d + css + 4, (uint16_t)len);
  }
  if (s->tx.sum_needed & POPTS_TXSM) {
    uint32_t ph = be16(d + p->tucso) + len;
    stbe16(d + p->tucso, (uint16_t)((ph >> 16) + (ph & 0xffff)));
  }
  s->tx.segs++;
  s->cnt.tso_segments++;
}

static void xmit_seg(e1000 *s) {
  const txprops *p = s->tx.cptse ? &s->tx.tso : &s->tx.props;
  uint32_t n = s->tx.size;
  if (s->tx.cptse) {
    if (s->tx.emitted + n > TSO_EMIT_MAX) { s->cnt.tso_refused++; s->tx.bad = 1; return; }
    s->tx.emitted += n;
    tso_fixup(s);
  }
  if (s->tx.sum_needed & POPTS_TXSM) put_csum(s->tx.data, n, p->tucso, p->tucss, p->tucse);
  if (s->tx.sum_needed & POPTS_IXSM) put_csum(s->tx.data, n, p->ipcso, p->ipcss, p->ipcse);
  send_frame(s, s->tx.data, n);
}

static int dma_in(e1000 *s, uint64_t addr, uint8_t *dst, uint32_t n) {
  if (pci_dma_read(&s->pci, addr, dst, n) == 0) return 0;
  s->cnt.dma_refused++;
  s->tx.bad = 1;
  return -1;
}

/* A TSE data descriptor: cut the payload into header + MSS segments as it arrives. Each pass
 * of the loop takes at least one byte, so it ends within len passes (CVE-2015-6815); a frame
 * already past header + MSS is refused before the subtraction could wrap (CVE-2021-20257). */
static void tso_append(e1000 *s, uint64_t addr, uint32_t len) {
  const txprops *p = &s->tx.tso;
  uint32_t hdr = p->hdr_len, msh = hdr + p->mss;
  if (!tso_ok(p, s->tx.sum_needed) || s->tx.size >= msh) {
    s->cnt.tso_refused++;
    s->tx.bad = 1;
    return;
  }
  while (len && !s->tx.bad) {
    uint32_t n = min32(len, msh - s->tx.size);
    if (dma_in(s, addr, s->tx.data + s->tx.size, n) < 0) return;
    if (s->tx.size < hdr && s->tx.size + n >= hdr) memcpy(s->tx.header, s->tx.data, hdr);
    s->tx.size += n;
    addr += n;
    len -= n;
    if (s->tx.size == msh) {
      xmit_seg(s);
      memcpy(s->tx.data, s->tx.header, hdr);
      s->tx.size = hdr;
    }
  }
}

static void plain_append(e1000 *s, uint64_t addr, uint32_t len) {
  uint32_t n = min32(len, TX_BUF - s->tx.size);        /* the rest is lost: oversize anyway */
  if (dma_in(s, addr, s->tx.data + s->tx.size, n) == 0) s->tx.size += n;
}

static void frame_end(e1000 *s) {
  int tso = s->tx.cptse;
  uint32_t hdr = s->tx.tso.hdr_len;
  /* The last short segment of a TSO frame, or the frame; not a header-only tail. */
  if (!s->tx.bad && !(tso && (s->tx.size < hdr || (s->tx.segs && s->tx.size == hdr)))) xmit_seg(s);
  if (s->tx.bad) s->base.port.tx.drops++;
  else if (tso) s->cnt.tso_frames++;
  s->tx.size = s->tx.segs = 0;
  s->tx.emitted = 0;
  s->tx.sum_needed = 0;
  s->tx.vlan_needed = s->tx.cptse = s->tx.bad = 0;
}

static void tx_desc(e1000 *s, const uint8_t *d) {
  uint64_t addr = ld64(d);
  uint32_t lower = ld32(d + 8), upper = ld32(d + 12), len = lower & 0xffff;
  uint32_t dtype = lower & (TXD_DEXT | TXD_DTYP_D);
  if (dtype == TXD_DEXT) {                              /* context descriptor */
    if (lower & TXD_TSE) { read_context(&s->tx.tso, d); s->tx.segs = 0; }
    else read_context(&s->tx.props, d);
    return;
  }
  if (dtype == (TXD_DEXT | TXD_DTYP_D)) {               /* data descriptor */
    if (s->tx.size == 0) s->tx.sum_needed = (uint8_t)(upper >> 8);
    s->tx.cptse = (lower & TXD_TSE) != 0;
  } else {                                              /* legacy descriptor */
    s->tx.cptse = 0;
  }
  if ((R(s, CTRL) & CTRL_VME) && (lower & TXD_VLE) && (s->tx.cptse || (lower & TXD_EOP))) {
    s->tx.vlan_needed = 1;
    stbe16(s->tx.vlan, (uint16_t)R(s, VET));
    stbe16(s->tx.vlan + 2, (uint16_t)(upper >> 16));
  }
  if (!s->tx.bad) {
    if (s->tx.cptse) tso_append(s, addr, len);
    else plain_append(s, addr, len);
  }
  if (lower & TXD_EOP) frame_end(s);
}

/* DD into the descriptor's status when the driver asked for a report. */
static uint32_t tx_writeback(e1000 *s, uint64_t at, const uint8_t *d) {
  if (!(ld32(d + 8) & (TXD_RS | TXD_RPS))) return 0;
  uint8_t up[4];
  st32(up, (ld32(d + 12) | TXD_STAT_DD) & ~(uint32_t)(TXD_STAT_EC | TXD_STAT_LC | TXD_STAT_TU));
  if (pci_dma_write(&s->pci, at + 12, up, 4) < 0) s->cnt.dma_refused++;
  return ICR_TXDW;
}

static uint64_t ring_base(const e1000 *s, uint32_t hi, uint32_t lo) {
  return (uint64_t)R(s, hi) << 32 | (R(s, lo) & ~0xfu);
}

/* Walks the ring from TDH to TDT. A doorbell grants at most one turn round the ring from where
 * TDH stood (TDT outside the ring is never reached: CVE-2016-1981); a pass that has sent
 * TX_PASS_BYTES leaves the rest of the grant to a device timer, so one guest write cannot pile
 * up unbounded work while the machine holds the netstack. */
static void tx_pass(e1000 *s) {
  if (s->tx.busy) { s->cnt.tx_reentered++; return; }
  if (!s->tx.walking || !(R(s, TCTL) & TCTL_EN)) return;
  uint32_t ring = R(s, TDLEN) / 16;
  if (ring == 0 || s->tx.walk_start >= ring || R(s, TDH) >= ring) {
    s->cnt.bad_descriptors++;
    s->tx.walking = 0;
    return;
  }
  s->tx.busy = 1;
  uint32_t cause = ICR_TXQE;
  uint64_t base = ring_base(s, TDBAH, TDBAL);
  while (R(s, TDH) != R(s, TDT)) {
    if (s->tx.spent >= TX_PASS_BYTES) {
      s->cnt.tx_deferred++;
      dtimer_arm(&s->txmore, 0);
      break;
    }
    uint64_t at = base + 16ull * R(s, TDH);
    uint8_t d[16];
    if (pci_dma_read(&s->pci, at, d, 16) < 0) {
      s->cnt.dma_refused++;
      s->tx.walking = 0;
      break;
    }
    tx_desc(s, d);
    cause |= tx_writeback(s, at, d);
    R(s, TDH) = R(s, TDH) + 1 >= ring ? 0 : R(s, TDH) + 1;
    s->tx.walk_steps++;
    if (R(s, TDH) != R(s, TDT) && (R(s, TDH) == s->tx.walk_start || s->tx.walk_steps >= ring)) {
      s->cnt.bad_descriptors++;                          /* round the ring without meeting TDT */
      s->tx.walking = 0;
      break;
    }
  }
  if (R(s, TDH) == R(s, TDT)) s->tx.walking = 0;
  s->tx.busy = 0;
  post(s, cause);
}

static void tx_doorbell(e1000 *s) {
  if (!(R(s, TCTL) & TCTL_EN)) return;
  if (s->tx.busy) { s->cnt.tx_reentered++; return; }
  s->tx.walking = 1;
  s->tx.walk_start = R(s, TDH);
  s->tx.walk_steps = 0;
  if (!dtimer_armed(&s->txmore)) tx_pass(s);            /* else the timer goes on with it */
}

static void tx_more(dtimer *t) {
  e1000 *s = t->ud;
  s->tx.spent = 0;
  tx_pass(s);
}

/* ---- receive ---- */

static int rx_ready(const e1000 *s) {
  return (R(s, STATUS) & STATUS_LU) && (R(s, RCTL) & RCTL_EN) && pci_bus_master(&s->pci);
}

static uint32_t rx_bufsize(uint32_t rctl) {
  switch (rctl & (RCTL_BSEX | RCTL_SZ)) {
  case RCTL_BSEX | 1u << 16: return 16384;
  case RCTL_BSEX | 2u << 16: return 8192;
  case RCTL_BSEX | 3u << 16: return 4096;
  case 1u << 16: return 1024;
  case 2u << 16: return 512;
  case 3u << 16: return 256;
  }
  return 2048;
}

static int rx_oversize(const e1000 *s, uint32_t size) {
  uint32_t rctl = R(s, RCTL);
  if (rctl & RCTL_SBP) return 0;
  return size > RX_MAX_LONG || (size > RX_MAX_SHORT && !(rctl & RCTL_LPE));
}

/* Broadcast, multicast and promiscuous bits, the 16 exact addresses, then the 4096-bit hash. */
static int rx_filter(const e1000 *s, const uint8_t *d) {
  static const int mta_shift[4] = {4, 3, 2, 0};
  uint32_t rctl = R(s, RCTL);
  static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  if (!memcmp(d, bcast, 6)) { if (rctl & RCTL_BAM) return 1; }
  else if (d[0] & 1) { if (rctl & RCTL_MPE) return 1; }
  else if (rctl & RCTL_UPE) return 1;
  for (int i = 0; i < 16; i++) {
    uint32_t lo = R(s, RA + 8 * i), hi = R(s, RA + 8 * i + 4);
    if (!(hi & RAH_AV)) continue;
    uint8_t a[6] = {(uint8_t)lo, (uint8_t)(lo >> 8), (uint8_t)(lo >> 16), (uint8_t)(lo >> 24),
                    (uint8_t)hi, (uint8_t)(hi >> 8)};
    if (!memcmp(d, a, 6)) return 1;
  }
  uint32_t f = (((uint32_t)d[5] << 8 | d[4]) >> mta_shift[(rctl >> RCTL_MO_SHIFT) & 3]) & 0xfff;
  return (R(s, MTA + 4 * (f >> 5)) >> (f & 31)) & 1;
}

static int is_vlan(const e1000 *s, const uint8_t *d) { return be16(d + 12) == (uint16_t)R(s, VET); }

static int vlan_filter(const e1000 *s, const uint8_t *d) {
  if (!(R(s, RCTL) & RCTL_VFE)) return 1;
  uint16_t vid = be16(d + 14);
  return (R(s, VFTA + 4 * ((vid >> 5) & 0x7f)) >> (vid & 31)) & 1;
}

/* Writes one receive descriptor back: length, status (DD last, as QEMU does), VLAN tag. */
static void rx_writeback(e1000 *s, uint64_t at, uint8_t *d, uint8_t status) {
  if (pci_dma_write(&s->pci, at + 8, d + 8, 8) < 0) { s->cnt.dma_refused++; return; }
  if (pci_dma_write(&s->pci, at + 12, &status, 1) < 0) s->cnt.dma_refused++;
}

/* Fills descriptors from RDH with size bytes of buf followed by fcs bytes the driver counts
 * but nobody writes (QEMU's FCS: length only). Stops at RDT whatever happens; 0 when the whole
 * frame went in, -1 when the ring could not take it (counted). */
static int rx_fill(e1000 *s, const uint8_t *buf, uint32_t size, uint32_t total, uint16_t special,
                    uint8_t vlan_status, uint32_t ring) {
  uint64_t base = ring_base(s, RDBAH, RDBAL);
  uint32_t off = 0;
  while (off < total) {
    if (R(s, RDH) == R(s, RDT)) { s->cnt.bad_descriptors++; return -1; }   /* null buffers ate it */
    uint64_t at = base + 16ull * R(s, RDH);
    uint8_t d[16];
    if (pci_dma_read(&s->pci, at, d, 16) < 0) { s->cnt.dma_refused++; return -1; }
    uint64_t addr = ld64(d);
    uint8_t status = d[12] & (uint8_t)~RXD_STAT_DD;
    st16(d + 14, special);
    if (addr) {
      uint32_t chunk = min32(total - off, s->rxbuf_size);
      uint32_t copy = off < size ? min32(size - off, chunk) : 0;
      if (copy && pci_dma_write(&s->pci, addr, buf + off, copy) < 0) s->cnt.dma_refused++;
      off += chunk;
      st16(d + 8, (uint16_t)chunk);
      if (off >= total) status |= RXD_STAT_EOP | RXD_STAT_IXSM;
      else status &= (uint8_t)~RXD_STAT_EOP;
    }
    d[12] = status;
    rx_writeback(s, at, d, status | vlan_status | RXD_STAT_DD);
    R(s, RDH) = R(s, RDH) + 1 >= ring ? 0 : R(s, RDH) + 1;
  }
  return 0;
}

/* What became of a frame offered to the guest. RX_HOLD leaves it waiting at the port (receive
 * off, link down, bus mastering off, or too few free descriptors: backpressure, never a silent
 * drop); RX_DROP is a refusal for good, counted. */
enum { RX_HOLD, RX_TAKEN, RX_DROP };

/* may_hold is 0 for looped-back frames, which have no port queue to wait in. */
static int rx_frame(e1000 *s, const uint8_t *data, uint32_t len, int may_hold) {
  if (!rx_ready(s)) {
    if (!may_hold) { s->cnt.loopback_drops++; return RX_DROP; }
    s->cnt.rx_held++;
    return RX_HOLD;
  }
  uint32_t size = len < 60 ? 60 : len;                  /* padded to the minimum frame */
  if (len > NET_FRAME_MAX || rx_oversize(s, size)) { s->cnt.rx_oversize++; return RX_DROP; }
  uint8_t *buf = s->rxbuf;
  memcpy(buf, data, len);
  memset(buf + len, 0, size - len);
  if ((is_vlan(s, buf) && !vlan_filter(s, buf)) || !rx_filter(s, buf)) {
    s->cnt.rx_filtered++;                               /* not for us: no drop */
    return RX_TAKEN;
  }
  uint16_t special = 0;
  uint8_t vlan_status = 0;
  if ((R(s, CTRL) & CTRL_VME) && is_vlan(s, buf)) {     /* strip the tag into the descriptor */
    special = be16(buf + 14);
    memmove(buf + 4, buf, 12);
    buf += 4;
    size -= 4;
    vlan_status = RXD_STAT_VP;
  }
  uint32_t ring = R(s, RDLEN) / 16;
  if (ring == 0 || R(s, RDH) >= ring || R(s, RDT) >= ring) { s->cnt.bad_descriptors++; return RX_DROP; }
  uint32_t total = size + ((R(s, RCTL) & RCTL_SECRC) ? 0 : 4);
  uint32_t need = (total + s->rxbuf_size - 1) / s->rxbuf_size;
  uint32_t avail = (R(s, RDT) + ring - R(s, RDH)) % ring;
  if (need > ring - 1) { s->cnt.rx_too_big++; return RX_DROP; }   /* can never fit: no wait */
  if (avail < need) {
    if (!may_hold) { s->cnt.loopback_drops++; return RX_DROP; }
    s->cnt.rx_no_buffers++;
    return RX_HOLD;
  }
  if (rx_fill(s, buf, size, total, special, vlan_status, ring) < 0) return RX_DROP;
  s->cnt.rx_frames++;
  uint32_t cause = ICR_RXT0, rdt = R(s, RDT);
  if (rdt < R(s, RDH)) rdt += ring;
  if ((rdt - R(s, RDH)) * 16 <= R(s, RDLEN) >> s->rx_min_shift) cause |= ICR_RXDMT0;
  post(s, cause);
  return RX_TAKEN;
}

/* The port's drop counter counts refusals, as virtio-net's does. */
static int port_receive(net_port *p, net_frame *f) {
  int r = rx_frame(p->owner, f->data, f->len, 1);
  if (r == RX_DROP) p->rx.drops++;
  return r != RX_HOLD;
}

static const net_port_ops e1000_port_ops = {"e1000", port_receive};

/* ---- the register file ---- */

/* What a plain write keeps (QEMU's masks); 0 where writes do not reach. QEMU ignores writes to
 * TIPG, MANC, TIDV, RXCSUM, CTRL_EXT and the flow-control registers; lemu keeps them so drivers
 * read back what they wrote, as on the chip. */
static uint32_t write_mask(uint32_t off) {
  switch (off) {
  case PBA: case EERD: case SWSM: case WUFC: case TDBAL: case TDBAH: case TXDCTL: case RDBAL:
  case RDBAH: case LEDCTL: case VET: case FCRUC: case IPAV: case WUC: case WUS: case TIPG:
  case MANC: case TIDV: case RXCSUM: case CTRL_EXT: case FCAL: case FCAH: case FCT: case FCTTV:
  case FCRTL: case FCRTH:
  case IP6AT ... IP6AT + 12: case IP4AT ... IP4AT + 24: case RA ... RA + 124:
  case WUPM ... WUPM + 124: case MTA ... MTA + 508: case VFTA ... VFTA + 508:
  case FFVT ... FFVT + 1016: case PBM ... MMIO_SIZE - 4:
    return 0xffffffffu;
  case RDTR: case RADV: case TADV: case ITR: case AIT: case TDH: case RDH:
    return 0xffff;
  case TDFH: case TDFT: case FFLT ... FFLT + 24:
    return 0x7ff;
  case TDFHS: case TDFTS: case TDFPC: case RDFH: case RDFT: case RDFHS: case RDFTS: case RDFPC:
    return 0x1fff;
  case FFMT ... FFMT + 1016:
    return 0xf;
  }
  return 0;
}

static uint32_t reg_read(e1000 *s, uint32_t off) {
  switch (off) {
  case ICR: {                                           /* read to clear */
    uint32_t v = R(s, ICR);
    set_causes(s, 0);
    return v;
  }
  case EECD: return eecd_read(s);
  case EERD: return eerd_read(s);
  }
  return s->reg[off >> 2];                              /* statistics never count: they read 0 */
}

static void reg_write(e1000 *s, uint32_t off, uint32_t val) {
  switch (off) {
  case CTRL: R(s, CTRL) = val & ~(uint32_t)CTRL_RST; return;   /* RST: self-clearing, inert */
  case EECD: eecd_write(s, val); return;
  case MDIC: mdic_write(s, val); return;
  case ICR: set_causes(s, R(s, ICR) & ~val); return;
  case ICS: post(s, val); return;
  case IMS: R(s, IMS) |= val; post(s, 0); return;
  case IMC: R(s, IMS) &= ~val; post(s, 0); return;
  case RCTL:
    R(s, RCTL) = val;
    s->rxbuf_size = rx_bufsize(val);
    s->rx_min_shift = ((val / RCTL_RDMTS_QUAT) & 3) + 1;
    rx_kick(s);
    return;
  case TCTL: case TDT:
    R(s, off) = val;
    R(s, TDT) &= 0xffff;
    tx_doorbell(s);
    return;
  case RDT:
    R(s, RDT) = val & 0xffff;
    if (R(s, RDH) != R(s, RDT)) rx_kick(s);
    return;
  case TDLEN: case RDLEN: R(s, off) = val & 0xfff80; return;
  }
  uint32_t m = write_mask(off);
  if (m) s->reg[off >> 2] = val & m;
}

/* The register file is 32 bits wide: a narrower access reaches the whole register holding it
 * (QEMU's impl size 4), a 64-bit one two registers. */
static uint64_t mmio_read(void *dev, uint64_t off, int size) {
  e1000 *s = dev;
  uint32_t o = (uint32_t)off & (MMIO_SIZE - 1) & ~3u;
  if (size == 8) return reg_read(s, o) | (uint64_t)reg_read(s, (o + 4) & (MMIO_SIZE - 1)) << 32;
  uint32_t v = reg_read(s, o);
  return size == 4 ? v : v & ((1u << (8 * size)) - 1);
}

static void mmio_write(void *dev, uint64_t off, uint64_t val, int size) {
  e1000 *s = dev;
  uint32_t o = (uint32_t)off & (MMIO_SIZE - 1) & ~3u;
  if (size == 8) {
    reg_write(s, o, (uint32_t)val);
    reg_write(s, (o + 4) & (MMIO_SIZE - 1), (uint32_t)(val >> 32));
    return;
  }
  reg_write(s, o, size == 4 ? (uint32_t)val : (uint32_t)val & ((1u << (8 * size)) - 1));
}

static const bus_dev_ops mmio_ops = {mmio_read, mmio_write};

/* BAR1 as on QEMU: present, decoded, and inert. */
static uint64_t io_read(void *dev, uint64_t off, int size) {
  (void)dev; (void)off; (void)size;
  return 0;
}
static void io_write(void *dev, uint64_t off, uint64_t val, int size) {
  (void)dev; (void)off; (void)val; (void)size;
}
static const bus_dev_ops io_ops = {io_read, io_write};

/* ---- reset, PCI, the model table ---- */

static void reset_state(e1000 *s) {
  dtimer_cancel(&s->autoneg);
  dtimer_cancel(&s->txmore);
  memset(s->reg, 0, sizeof s->reg);
  memcpy(s->phy, phy_init, sizeof s->phy);
  memset(&s->ee, 0, sizeof s->ee);
  R(s, PBA) = 0x00100030;
  R(s, LEDCTL) = 0x602;
  R(s, CTRL) = CTRL_SWDPIN2 | CTRL_SWDPIN0 | CTRL_SPD_1000 | CTRL_SLU;
  R(s, STATUS) = 0x80000000u | STATUS_GIO_MASTER | STATUS_ASDV | STATUS_MTXCKOK |
                 STATUS_SPEED_1000 | STATUS_FD | STATUS_LU;
  R(s, MANC) = MANC_EN_MNG2HOST | MANC_RCV_TCO_EN | MANC_ARP_EN | MANC_0298_EN | MANC_RMCP_EN;
  R(s, VET) = 0x8100;
  const uint8_t *m = s->base.mac;
  R(s, RA) = (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 | (uint32_t)m[3] << 24;
  R(s, RA + 4) = (uint32_t)m[4] | (uint32_t)m[5] << 8 | RAH_AV;
  s->rxbuf_size = rx_bufsize(0);
  s->rx_min_shift = 1;
  memset(&s->tx.props, 0, sizeof s->tx.props);
  memset(&s->tx.tso, 0, sizeof s->tx.tso);
  s->tx.size = s->tx.segs = 0;
  s->tx.emitted = s->tx.spent = 0;
  s->tx.sum_needed = 0;
  s->tx.cptse = s->tx.vlan_needed = s->tx.bad = s->tx.walking = 0;
  if (!s->base.link_up) link_down_regs(s);
  pci_set_irq(&s->pci, 0);
}

static void pci_reset(pci_dev *d) { reset_state(d->owner); }

/* Bus mastering turned on: frames held for want of DMA may come in. */
static void config_written(pci_dev *d, uint32_t off, uint32_t val, int size) {
  (void)val;
  if (off <= PCI_COMMAND && off + (uint32_t)size > PCI_COMMAND) rx_kick(d->owner);
}

static const pci_dev_ops e1000_pci_ops = {config_written, NULL, pci_reset};

static void *e1000_create(const uint8_t mac[6], const char *name, dtimer_clock *clock) {
  e1000 *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  static const pci_id id = {0x8086, DEVICE_ID, 0x03, 0x020000, 0x1af4, 0x1100, 1};
  nic_init(&s->base, &e1000_port_ops, s, mac, name, link_changed);
  pci_dev_init(&s->pci, &id, &e1000_pci_ops, s, "e1000");
  pci_register_bar(&s->pci, 0, PCI_BAR_MEM32, MMIO_SIZE, &mmio_ops, s);
  pci_register_bar(&s->pci, 1, PCI_BAR_IO, IO_SIZE, &io_ops, s);
  dtimer_init(&s->autoneg, clock, autoneg_done, s);
  dtimer_init(&s->txmore, clock, tx_more, s);
  eeprom_build(s);
  reset_state(s);
  return s;
}

static pci_dev *e1000_pci(void *card) { return &((e1000 *)card)->pci; }
static nic *e1000_nic(void *card) { return &((e1000 *)card)->base; }

static void e1000_destroy(void *card) {
  e1000 *s = card;
  dtimer_cancel(&s->autoneg);
  dtimer_cancel(&s->txmore);
  net_port_detach(&s->base.port);
  free(s);
}

static void e1000_counters(void *card, nic_counter_fn put, void *ud) {
  const e1000 *s = card;
#define X(n) put(ud, #n, s->cnt.n);
  E1000_COUNTERS(X)
#undef X
}

const nic_pci_model e1000_model = {
  "e1000", e1000_create, e1000_pci, e1000_nic, e1000_destroy, e1000_counters,
};
