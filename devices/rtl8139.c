/* rtl8139: see rtl8139.h. Owns the card's register file and its decoders for both BARs, the
 * 93C46 EEPROM state machine, the C+ descriptor walks and the C-mode slots and ring, the PHY's MII
 * registers, the tally counters and the model's own refusal counters. Register semantics (masks,
 * reset values, what reads back) follow QEMU 7.2's hw/net/rtl8139.c, since that is what the guests
 * were tested against; where lemu departs (a dry ring holds frames, oversize or broken frames are
 * refused, no loopback) the comment says so. */
#include "rtl8139.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "inet.h"

/* ---- registers (offsets into the 256-byte file) ---- */
enum {
  R_IDR = 0x00, R_MAR = 0x08, R_TXSTATUS = 0x10, R_TXADDR = 0x20, R_RXBUF = 0x30, R_CHIPCMD = 0x37,
  R_CAPR = 0x38, R_CBR = 0x3a, R_IMR = 0x3c, R_ISR = 0x3e, R_TXCONFIG = 0x40, R_RXCONFIG = 0x44,
  R_TIMER = 0x48, R_MISSED = 0x4c, R_CFG9346 = 0x50, R_CONFIG0 = 0x51, R_CONFIG1 = 0x52,
  R_TIMERINT = 0x54, R_MEDIA = 0x58, R_CONFIG3 = 0x59, R_CONFIG4 = 0x5a, R_HLTCLK = 0x5b,
  R_MULTIINTR = 0x5c, R_REVID = 0x5e, R_TSAD = 0x60, R_BMCR = 0x62, R_BMSR = 0x64, R_ANAR = 0x66,
  R_ANLPAR = 0x68, R_ANER = 0x6a, R_CSCR = 0x74, R_CONFIG5 = 0xd8, R_TXPOLL = 0xd9, R_CPCMD = 0xe0,
  R_MITIGATE = 0xe2, R_RXRING_LO = 0xe4, R_RXRING_HI = 0xe8, R_TXTHRESH = 0xec,
};
enum { CMD_RST = 0x10, CMD_RE = 0x08, CMD_TE = 0x04, CMD_BUFE = 0x01 };
enum { CP_RXVLAN = 0x40, CP_RXENB = 0x02, CP_TXENB = 0x01 };
enum {
  INT_RXOK = 0x01, INT_TXOK = 0x04, INT_RXOVERFLOW = 0x10, INT_LINKCHG = 0x20,
};
enum { RX_ALLPHYS = 0x01, RX_MYPHYS = 0x02, RX_MULTI = 0x04, RX_BCAST = 0x08, RX_NOWRAP = 0x80 };
/* C+ descriptor bits (opts1), shared by both rings where they coincide. */
#define D_OWN (1u << 31)
#define D_EOR (1u << 30)
#define D_FS (1u << 29)
#define D_LS (1u << 28)
#define TX_LGSEN (1u << 27)
#define TX_IPCS (1u << 18)
#define TX_UDPCS (1u << 17)
#define TX_TCPCS (1u << 16)
#define TX_TES (1u << 23)
#define TX_ERRBITS ((1u << 25) | (1u << 23) | (1u << 22) | (1u << 21) | (1u << 20))
#define TX_TAGC (1u << 17)                  /* opts2 */
#define RX_BAR (1u << 24)
#define RX_PAM (1u << 25)
#define RX_MAR (1u << 26)
#define RX_TAVA (1u << 16)                  /* opts2 */
/* C-mode transmit status and receive header bits. */
#define TXS_OWN 0x2000u                     /* the host owns the slot (it is done) */
#define TXS_OK 0x8000u
#define RXH_OK 0x0001u
#define RXH_BCAST 0x2000u
#define RXH_PHYS 0x4000u
#define RXH_MULTI 0x8000u

#define RING 64                             /* C+ ring entries (8139cp's, and QEMU's TX bound) */
#define TXBUF 65536                         /* C+ transmit assembly bound (QEMU's) */
#define FRAME_MIN 60                        /* a frame on the wire without its CRC */
#define PCI_PERIOD_NS 30                    /* the Timer register counts the 33 MHz PCI clock */
#define RETRY_NS 1000000ull                 /* held frames are retried at least every 1 ms */

/* QEMU's TxConfig after reset: the RTL-8139C+ hardware revision bits. */
#define TXCONFIG_VERSION ((1u << 30) | (1u << 29) | (1u << 28) | (1u << 26) | (1u << 23))

/* SET_MASKED in QEMU's terms: the bits of keep come from cur, the others from val. */
static uint32_t masked(uint32_t val, uint32_t keep, uint32_t cur) { return (val & ~keep) | (cur & keep); }

/* ---- the 93C46: 64 words, 6-bit addresses, read through Cfg9346 in program mode ---- */
enum { EE_IDLE, EE_START, EE_COMMAND, EE_READ };
typedef struct eeprom {
  uint16_t word[64];
  int mode;
  unsigned tick;
  uint16_t in, out;
  uint8_t cs, sk, di, dout;
} eeprom;

static void ee_command(eeprom *e, uint8_t cmd) {
  switch (cmd & 0xc0) {
  case 0x80:                                /* READ */
    e->out = e->word[cmd & 0x3f];
    e->dout = 0;
    e->tick = 0;
    e->mode = EE_READ;
    break;
  default:                                  /* WRITE, EWEN, EWDS, WRAL: QEMU stores nothing */
    e->mode = EE_IDLE;
    break;
  }
}

/* A rising edge of SK with CS high. */
static void ee_clock(eeprom *e) {
  unsigned bit = e->di;
  e->tick++;
  switch (e->mode) {
  case EE_START:                            /* DI high = the start bit */
    if (bit) { e->mode = EE_COMMAND; e->tick = 0; e->in = 0; }
    break;
  case EE_COMMAND:                          /* 2 opcode bits + 6 address bits */
    e->in = (uint16_t)(e->in << 1 | bit);
    if (e->tick == 8) ee_command(e, (uint8_t)e->in);
    break;
  case EE_READ:                             /* 16 data bits out, MSB first, then a new command */
    e->dout = (e->out & 0x8000) != 0;
    e->out = (uint16_t)(e->out << 1);
    if (e->tick == 16) { e->mode = EE_START; e->in = 0; e->tick = 0; }
    break;
  default:
    break;
  }
}

static void ee_wires(eeprom *e, int cs, int sk, int di) {
  int old_cs = e->cs, old_sk = e->sk;
  e->cs = (uint8_t)cs;
  e->sk = (uint8_t)sk;
  e->di = (uint8_t)di;
  if (!old_cs && cs) { e->tick = 0; e->in = 0; e->out = 0; e->mode = EE_START; }
  if (!cs) return;
  if (!old_sk && sk) ee_clock(e);
}

/* ---- the card ---- */

typedef struct tally {                      /* the 64-byte block DTCCR dumps, in 8139cp's order */
  uint64_t tx_ok, rx_ok, tx_err;
  uint32_t rx_err;
  uint16_t miss, fae;
  uint32_t tx_1col, tx_mcol;
  uint64_t rx_ok_phys, rx_ok_bcast;
  uint32_t rx_ok_mcast;
  uint16_t tx_abort, tx_underrun;
} tally;

typedef struct counters {
  uint64_t tx_frames, tx_bytes, rx_frames, rx_bytes, rx_filtered, rx_disabled, rx_held,
      rx_overflow, bad_descriptors, dma_refused, tx_runt, tx_oversize, tx_poll_limit,
      offload_done, offload_refused, tso_frames, tally_dumps;
} counters;

typedef struct rtl {
  nic base;                                 /* first: a nic * is a rtl * */
  pci_dev pci;
  dtimer retry;
  dtimer_clock *clock;
  uint8_t idr[6], mar[8];
  uint32_t txstatus[4], txaddr[4];          /* C: slots; C+: txstatus[0..1] = DTCCR, txaddr = rings */
  uint32_t rxbuf, rxbuf_size, capr, cbr;    /* C-mode receive ring (offsets into it) */
  uint16_t isr, imr;
  uint32_t txconfig, rxconfig, missed;
  uint16_t cscr, multiintr, bmcr, bmsr, anar, anlpar, aner, cpcmd;
  uint8_t cfg9346, config0, config1, config3, config4, config5, chipcmd, clock_on, txthresh;
  int cplus;                                /* a CpCmd write switched the card to C+ (until reset) */
  unsigned rx_cur, tx_cur, c_tx_cur;
  uint32_t rxring_lo, rxring_hi, timerint;
  uint64_t tctr_base;                       /* guest ns at which Timer read 0 */
  int holding;                              /* a frame waits at the port for a descriptor */
  size_t tx_len;                            /* bytes assembled of the frame being sent */
  int tx_broken;                            /* its data could not all be fetched or kept */
  eeprom ee;
  tally tc;
  counters c;
  uint8_t txbuf[TXBUF];
  uint8_t seg[14 + 60 + 60 + 0x7ff + 4];    /* one large-send segment (MSS is 11 bits), + a tag */
  uint8_t cbuf[0x2000];                     /* a C-mode slot's frame (13-bit size) */
} rtl;

static uint64_t addr64(uint32_t lo, uint32_t hi) { return (uint64_t)hi << 32 | lo; }
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void put_le32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static void update_irq(rtl *s) { pci_set_irq(&s->pci, (s->isr & s->imr) != 0); }

static void reset_phy(rtl *s) {
  s->bmsr = 0x7809 | 0x0020 | (s->base.link_up ? 0x0004 : 0);   /* autoneg done, link */
  s->anar = s->anlpar = 0x05e1;
  s->aner = 0x0001;
  s->cscr = (1u << 6) | (1u << 8) | (1u << 9);          /* F_LINK_100 | HEART_BIT | LD */
}

/* QEMU's rtl8139_reset: what ChipCmd RST, Cfg9346 autoload and a PCI reset all do. */
static void chip_reset(rtl *s) {
  memcpy(s->idr, s->base.mac, 6);
  s->isr = s->imr = 0;
  update_irq(s);
  for (int i = 0; i < 4; i++) s->txstatus[i] = TXS_OWN;
  s->c_tx_cur = s->rx_cur = s->tx_cur = 0;
  s->rxring_lo = s->rxring_hi = 0;
  s->rxbuf = 0;
  s->rxbuf_size = 8192;
  s->capr = s->cbr = 0;
  s->txconfig = TXCONFIG_VERSION;
  s->clock_on = 1;
  s->chipcmd = CMD_RST;                     /* reads back until the driver next writes ChipCmd */
  s->config0 = 0;
  s->config1 = 0x0c;                        /* I/O and memory mapped registers */
  s->config3 = 0x01;
  s->config5 = 0;
  s->cpcmd = 0;
  s->cplus = 0;
  s->bmcr = 0x1000;                         /* autonegotiation */
  reset_phy(s);
  s->timerint = 0;
  s->tctr_base = dtimer_now(s->clock);
  memset(&s->tc, 0, sizeof s->tc);
  s->tx_len = 0;
  s->tx_broken = 0;
}

/* ---- receive: VLAN -> guest ---- */

static int is_bcast(const uint8_t *d) { return (d[0] & d[1] & d[2] & d[3] & d[4] & d[5]) == 0xff; }

/* RxConfig's address filter, in QEMU's order: the C+ descriptor's type flag (D_OWN alone for a
 * promiscuous accept), or 0 to refuse. */
static uint32_t filter(rtl *s, const uint8_t *d) {
  if (s->rxconfig & RX_ALLPHYS) return D_OWN;                  /* promiscuous: no type flag */
  if (is_bcast(d)) {
    if (!(s->rxconfig & RX_BCAST)) return 0;
    s->tc.rx_ok_bcast++;
    return RX_BAR;
  }
  if (d[0] & 1) {
    if (!(s->rxconfig & RX_MULTI)) return 0;
    unsigned bit = inet_ether_crc(d, 6) >> 26;
    if (!(s->mar[bit >> 3] & (1u << (bit & 7)))) return 0;
    s->tc.rx_ok_mcast++;
    return RX_MAR;
  }
  if (memcmp(d, s->idr, 6) == 0) {
    if (!(s->rxconfig & RX_MYPHYS)) return 0;
    s->tc.rx_ok_phys++;
    return RX_PAM;
  }
  return 0;
}

/* The frame as the card writes it: data (the VLAN tag taken out if asked), zero padding to the
 * wire's minimum, then the CRC of what went before. Pieces, so nothing is copied twice. */
typedef struct rxframe { const uint8_t *a; size_t alen; const uint8_t *b; size_t blen; size_t pad; } rxframe;

static size_t rx_len(const rxframe *r) { return r->alen + r->blen + r->pad; }

static int rx_write(rtl *s, uint64_t pa, const rxframe *r) {
  static const uint8_t zero[FRAME_MIN];
  uint8_t crc[4];
  uLong c = crc32(0, r->a, (uInt)r->alen);
  if (r->blen) c = crc32(c, r->b, (uInt)r->blen);
  if (r->pad) c = crc32(c, zero, (uInt)r->pad);
  put_le32(crc, (uint32_t)c);
  if (pci_dma_write(&s->pci, pa, r->a, r->alen) < 0 ||
      pci_dma_write(&s->pci, pa + r->alen, r->b, r->blen) < 0 ||
      pci_dma_write(&s->pci, pa + r->alen + r->blen, zero, r->pad) < 0 ||
      pci_dma_write(&s->pci, pa + rx_len(r), crc, 4) < 0)
    return -1;
  return 0;
}

/* No descriptor (or ring room) for f now: it waits at the port, retried on the driver's next
 * interrupt register or command write, and on a timer so that nothing waits forever. */
static int hold(rtl *s) {
  if (!s->holding) s->c.rx_held++;
  s->holding = 1;
  s->isr |= INT_RXOVERFLOW;                 /* 8139cp's RxEmpty: polls and refills */
  update_irq(s);
  if (!dtimer_armed(&s->retry)) dtimer_arm(&s->retry, RETRY_NS);
  return 0;
}

static int rx_cplus(rtl *s, const rxframe *fr, uint32_t type, int tagged, uint32_t tci) {
  uint64_t ring = addr64(s->rxring_lo, s->rxring_hi);
  if (ring == 0) { s->c.rx_disabled++; return 1; }   /* the ring is not set up yet */
  uint64_t dpa = ring + 16u * s->rx_cur;
  uint8_t d[16];
  if (pci_dma_read(&s->pci, dpa, d, 16) < 0) { s->c.dma_refused++; return 1; }
  uint32_t opts1 = le32(d), opts2 = le32(d + 4);
  if (!(opts1 & D_OWN)) return hold(s);
  size_t space = opts1 & 0x1fff, len = rx_len(fr);
  if (len + 4 > space) {                    /* frame and CRC must fit one buffer (no scatter) */
    s->c.rx_overflow++;
    s->isr |= INT_RXOVERFLOW;
    s->missed++;
    s->tc.rx_err++;
    s->tc.miss++;
    update_irq(s);
    return 1;
  }
  if (rx_write(s, addr64(le32(d + 8), le32(d + 12)), fr) < 0) {
    s->c.dma_refused++;
    s->c.bad_descriptors++;
    return 1;
  }
  opts1 = (opts1 & ~(D_OWN | 0x1fffu)) | D_FS | D_LS | (type & (RX_BAR | RX_MAR | RX_PAM)) |
          (uint32_t)(len + 4);
  opts2 = tagged ? (opts2 & ~0xffffu) | RX_TAVA | tci : opts2 & ~RX_TAVA;
  put_le32(d, opts1);
  put_le32(d + 4, opts2);
  if (pci_dma_write(&s->pci, dpa, d, 8) < 0) { s->c.dma_refused++; return 1; }
  s->tc.rx_ok++;
  s->rx_cur = (opts1 & D_EOR) || s->rx_cur + 1 >= RING ? 0 : s->rx_cur + 1;
  return 2;
}

/* The C-mode ring: offsets wrap at its size unless RxNoWrap lets the frame run past the end. */
static int ring_put(rtl *s, const void *src, size_t n) {
  const uint8_t *b = src;
  while (n) {
    size_t pos = s->cbr, chunk = n;
    if (!(s->rxconfig & RX_NOWRAP) || s->rxbuf_size == 65536) {
      pos %= s->rxbuf_size;
      if (chunk > s->rxbuf_size - pos) chunk = s->rxbuf_size - pos;
    }
    if (pci_dma_write(&s->pci, (uint64_t)s->rxbuf + pos, b, chunk) < 0) return -1;
    s->cbr = (uint32_t)(pos + chunk);
    if (s->cbr >= s->rxbuf_size && !((s->rxconfig & RX_NOWRAP) && s->rxbuf_size < 65536)) s->cbr = 0;
    b += chunk;
    n -= chunk;
  }
  return 0;
}

static int rx_cmode(rtl *s, const rxframe *fr, uint32_t type) {
  size_t len = rx_len(fr), need = (len + 8 + 3) & ~(size_t)3;
  if (need + 16 > s->rxbuf_size) { s->c.rx_overflow++; s->missed++; return 1; }
  size_t avail = (s->rxbuf_size + s->capr - s->cbr) % s->rxbuf_size;
  if (avail != 0 && need >= avail) return hold(s);          /* QEMU queues here too */
  uint32_t hdr = RXH_OK | (type == RX_BAR ? RXH_BCAST : type == RX_MAR ? RXH_MULTI :
                           type == RX_PAM ? RXH_PHYS : 0) | (uint32_t)(len + 4) << 16;
  uint8_t h[4], crc[4];
  static const uint8_t zero[FRAME_MIN];
  put_le32(h, hdr);
  uLong c = crc32(0, fr->a, (uInt)fr->alen);
  if (fr->pad) c = crc32(c, zero, (uInt)fr->pad);
  put_le32(crc, (uint32_t)c);
  if (ring_put(s, h, 4) < 0 || ring_put(s, fr->a, fr->alen) < 0 || ring_put(s, zero, fr->pad) < 0 ||
      ring_put(s, crc, 4) < 0) {
    s->c.dma_refused++;
    return 1;
  }
  s->cbr = (uint32_t)((((size_t)s->cbr + 3) & ~(size_t)3) % s->rxbuf_size);
  return 2;
}

static int rtl_receive(net_port *p, net_frame *f) {
  rtl *s = p->owner;
  if (!s->clock_on || !(s->chipcmd & CMD_RE)) { s->c.rx_disabled++; return 1; }
  uint32_t type = filter(s, f->data);
  if (!type) { s->c.rx_filtered++; s->tc.rx_err++; return 1; }
  rxframe fr = {f->data, f->len, NULL, 0, 0};
  uint32_t tci = 0;
  int cplus = (s->cpcmd & CP_RXENB) != 0, tagged = 0;
  if (cplus && (s->cpcmd & CP_RXVLAN) && f->len >= 18 && f->data[12] == 0x81 && f->data[13] == 0) {
    /* Detag: the TCI goes into opts2 as its bytes lie (8139cp swaps it back). */
    tagged = 1;
    tci = (uint32_t)f->data[14] | (uint32_t)f->data[15] << 8;
    fr = (rxframe){f->data, 12, f->data + 16, f->len - 16, 0};
  }
  if (rx_len(&fr) < FRAME_MIN) fr.pad = FRAME_MIN - rx_len(&fr);
  int r = cplus ? rx_cplus(s, &fr, type, tagged, tci) : rx_cmode(s, &fr, type);
  if (r != 0) s->holding = 0;
  if (r == 2) {
    s->c.rx_frames++;
    s->c.rx_bytes += f->len;
    s->isr |= INT_RXOK;
    update_irq(s);
  }
  return r != 0;
}

static const net_port_ops rtl_port_ops = {"rtl8139", rtl_receive};

/* The driver may have given descriptors or ring room back: deliver what waits. */
static void retry(rtl *s) {
  if (!s->holding) return;
  net_port_ready(&s->base.port);
  if (s->holding && s->base.port.qlen == 0) s->holding = 0;    /* the queue went (link down) */
}

static void retry_fire(dtimer *t) {
  rtl *s = t->ud;
  retry(s);
  if (s->holding) dtimer_arm(&s->retry, RETRY_NS);
}

/* ---- transmit: guest -> VLAN ---- */

/* Puts the VLAN tag in (in place: f has 4 bytes of room past len) and sends; 0 or -1. */
static int tx_wire(rtl *s, uint8_t *f, size_t len, uint32_t opts2) {
  if (opts2 & TX_TAGC) {
    if (len + 4 > NET_FRAME_MAX) { s->c.tx_oversize++; return -1; }
    /* After the addresses; opts2 holds the TCI as its bytes lie on the wire. */
    memmove(f + 16, f + 12, len - 12);
    f[12] = 0x81;
    f[13] = 0x00;
    f[14] = (uint8_t)opts2;
    f[15] = (uint8_t)(opts2 >> 8);
    len += 4;
  }
  if (len > NET_FRAME_MAX) { s->c.tx_oversize++; return -1; }
  /* Loopback (TxConfig bits 17-18) is not modelled: the frame goes to the wire. */
  if (net_port_send(&s->base.port, f, len) == 0) {
    s->c.tx_frames++;
    s->c.tx_bytes += len;
  }
  return 0;
}

/* The checksum over the IPv4 pseudo-header and the l4 bytes at th, stored at th + at. */
static void l4_csum(const uint8_t *ip, uint8_t *th, size_t l4, size_t at) {
  th[at] = th[at + 1] = 0;
  uint32_t sum = inet_sum(0, ip + 12, 8) + ip[9] + (uint32_t)l4;
  uint16_t c = inet_checksum(inet_sum(sum, th, l4));
  if (ip[9] == 17 && c == 0) c = 0xffff;    /* UDP sends 0 as all ones */
  th[at] = (uint8_t)(c >> 8);
  th[at + 1] = (uint8_t)c;
}

static void ip_csum(uint8_t *ip, size_t hlen) {
  ip[10] = ip[11] = 0;
  uint16_t c = inet_checksum(inet_sum(0, ip, hlen));
  ip[10] = (uint8_t)(c >> 8);
  ip[11] = (uint8_t)c;
}

/* Large send: the TCP payload cut into MSS-sized segments, each with the headers copied, the IP
 * length, id and checksum, the sequence number, the flags (PSH and FIN on the last only) and the
 * TCP checksum set. Lengths were checked against the frame by the caller. */
static void tso(rtl *s, const uint8_t *f, size_t hlen, size_t ip_data, size_t thlen, size_t mss,
                uint32_t opts2) {
  const uint8_t *ip = f + 14, *th = ip + hlen, *data = th + thlen;
  size_t hdrs = 14 + hlen + thlen, total = ip_data - thlen;
  uint16_t id = (uint16_t)(ip[4] << 8 | ip[5]);
  uint32_t seq = (uint32_t)th[4] << 24 | (uint32_t)th[5] << 16 | (uint32_t)th[6] << 8 | th[7];
  size_t off = 0, k = 0;
  do {
    size_t chunk = total - off < mss ? total - off : mss;
    uint8_t *g = s->seg;
    memcpy(g, f, hdrs);
    memcpy(g + hdrs, data + off, chunk);
    uint8_t *gip = g + 14, *gth = gip + hlen;
    size_t tot = hlen + thlen + chunk;
    gip[2] = (uint8_t)(tot >> 8);
    gip[3] = (uint8_t)tot;
    gip[4] = (uint8_t)((id + k) >> 8);
    gip[5] = (uint8_t)(id + k);
    ip_csum(gip, hlen);
    uint32_t sq = seq + (uint32_t)off;
    for (int i = 0; i < 4; i++) gth[4 + i] = (uint8_t)(sq >> (24 - 8 * i));
    if (off + chunk < total) gth[13] &= (uint8_t)~0x09;   /* PSH | FIN */
    l4_csum(gip, gth, thlen + chunk, 16);
    tx_wire(s, g, hdrs + chunk, opts2);
    off += chunk;
    k++;
  } while (off < total);
  s->c.tso_frames++;
}

/* C+ checksum offload and large send, after QEMU's CVE-2015-5165 checks: every header length is
 * checked against the bytes the guest gave, so nothing outside the frame is read, summed or sent.
 * A frame that fails them goes out unmodified. 1: sent (as segments), 0: send f as it is now. */
static int offload(rtl *s, uint8_t *f, size_t len, uint32_t opts1, uint32_t opts2) {
  if (len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4) goto refuse;
  uint8_t *ip = f + 14;
  size_t pay = len - 14, hlen = (size_t)(ip[0] & 0xf) * 4, tot = (size_t)(ip[2] << 8 | ip[3]);
  if (hlen < 20 || hlen > pay || tot < hlen || tot > pay) goto refuse;
  size_t l4 = tot - hlen;
  uint8_t *th = ip + hlen;
  if (opts1 & TX_LGSEN) {
    if (ip[9] != 6) { s->c.offload_done++; return 0; }  /* QEMU: only TCP is segmented */
    size_t mss = (opts1 >> 16) & 0x7ff, thlen;
    if (l4 < 20 || mss == 0) goto refuse;
    thlen = (size_t)(th[12] >> 4) * 4;
    if (thlen < 20 || thlen > l4) goto refuse;
    tso(s, f, hlen, l4, thlen, mss, opts2);
    return 1;
  }
  if (opts1 & TX_IPCS) ip_csum(ip, hlen);
  if ((opts1 & TX_TCPCS) && ip[9] == 6) {
    if (l4 < 20) goto refuse;
    l4_csum(ip, th, l4, 16);
  } else if ((opts1 & TX_UDPCS) && ip[9] == 17) {
    if (l4 < 8) goto refuse;
    l4_csum(ip, th, l4, 6);
  }
  s->c.offload_done++;
  return 0;
refuse:
  s->c.offload_refused++;
  return 0;
}

/* Sends the assembled frame; 0, or -1 if it was refused (counted). */
static int tx_send(rtl *s, uint8_t *f, size_t len, uint32_t opts1, uint32_t opts2) {
  if (s->tx_broken) return -1;              /* counted where it broke */
  if (len < NET_FRAME_MIN) { s->c.tx_runt++; return -1; }
  s->tc.tx_ok++;
  if ((opts1 & (TX_IPCS | TX_UDPCS | TX_TCPCS | TX_LGSEN)) && offload(s, f, len, opts1, opts2)) return 0;
  return tx_wire(s, f, len, opts2);
}

/* One TxPoll: at most RING descriptors (CVE-2016-8910), the index wrapping at EOR or at 64, each
 * buffer appended to a 64 KiB assembly with the copy clamped to what is left. */
static void cplus_transmit(rtl *s) {
  if (!(s->chipcmd & CMD_TE) || !(s->cpcmd & CP_TXENB)) return;
  uint64_t ring = addr64(s->txaddr[0], s->txaddr[1]);
  int n = 0;
  for (; n < RING; n++) {
    uint64_t dpa = ring + 16u * s->tx_cur;
    uint8_t d[16];
    if (pci_dma_read(&s->pci, dpa, d, 16) < 0) { s->c.dma_refused++; break; }
    uint32_t opts1 = le32(d), opts2 = le32(d + 4);
    if (!(opts1 & D_OWN)) break;
    if (opts1 & D_FS) { s->tx_len = 0; s->tx_broken = 0; }
    size_t want = opts1 & 0xffff, room = TXBUF - s->tx_len, take = want < room ? want : room;
    if (take < want && !s->tx_broken) { s->c.tx_oversize++; s->tx_broken = 1; }
    if (!s->tx_broken && pci_dma_read(&s->pci, addr64(le32(d + 8), le32(d + 12)), s->txbuf + s->tx_len, take) < 0) {
      s->c.dma_refused++;
      s->c.bad_descriptors++;
      s->tx_broken = 1;
    }
    if (!s->tx_broken) s->tx_len += take;
    s->tx_cur = (opts1 & D_EOR) || s->tx_cur + 1 >= RING ? 0 : s->tx_cur + 1;
    uint32_t status = opts1 & ~(D_OWN | TX_ERRBITS);
    if (opts1 & D_LS) {
      if (tx_send(s, s->txbuf, s->tx_len, opts1, opts2) < 0) { status |= TX_TES; s->tc.tx_err++; }
      s->tx_len = 0;
      s->tx_broken = 0;
    }
    put_le32(d, status);
    if (pci_dma_write(&s->pci, dpa, d, 4) < 0) { s->c.dma_refused++; n++; break; }
  }
  if (n == RING) s->c.tx_poll_limit++;
  if (n) {
    s->isr |= INT_TXOK;
    update_irq(s);
  }
}

/* C mode: the slot the card is at sends if the driver handed it over (QEMU sends only that one). */
static void cmode_transmit(rtl *s) {
  unsigned i = s->c_tx_cur;
  if (!(s->chipcmd & CMD_TE) || (s->txstatus[i] & TXS_OWN)) return;
  size_t len = s->txstatus[i] & 0x1fff;
  int ok = pci_dma_read(&s->pci, s->txaddr[i], s->cbuf, len) == 0;
  s->txstatus[i] |= TXS_OWN | TXS_OK;
  if (!ok) { s->c.dma_refused++; s->c.bad_descriptors++; }
  else if (len < NET_FRAME_MIN) s->c.tx_runt++;
  else if (net_port_send(&s->base.port, s->cbuf, len) == 0) { s->c.tx_frames++; s->c.tx_bytes += len; }
  s->isr |= INT_TXOK;
  update_irq(s);
  s->c_tx_cur = (i + 1) % 4;
}

/* ---- tally counters ---- */

static void tally_dump(rtl *s) {
  uint8_t b[64] = {0};
  const tally *t = &s->tc;
  uint64_t v64[] = {t->tx_ok, t->rx_ok, t->tx_err};
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 8; k++) b[8 * i + k] = (uint8_t)(v64[i] >> (8 * k));
  put_le32(b + 24, t->rx_err);
  b[28] = (uint8_t)t->miss; b[29] = (uint8_t)(t->miss >> 8);
  b[30] = (uint8_t)t->fae; b[31] = (uint8_t)(t->fae >> 8);
  put_le32(b + 32, t->tx_1col);
  put_le32(b + 36, t->tx_mcol);
  for (int k = 0; k < 8; k++) b[40 + k] = (uint8_t)(t->rx_ok_phys >> (8 * k));
  for (int k = 0; k < 8; k++) b[48 + k] = (uint8_t)(t->rx_ok_bcast >> (8 * k));
  put_le32(b + 56, t->rx_ok_mcast);
  b[60] = (uint8_t)t->tx_abort; b[61] = (uint8_t)(t->tx_abort >> 8);
  b[62] = (uint8_t)t->tx_underrun; b[63] = (uint8_t)(t->tx_underrun >> 8);
  if (pci_dma_write(&s->pci, addr64(s->txstatus[0] & ~0x3fu, s->txstatus[1]), b, 64) < 0) s->c.dma_refused++;
  else s->c.tally_dumps++;
}

/* ---- register writes ---- */

static int config_unlocked(const rtl *s) { return (s->cfg9346 & 0xc0) == 0xc0; }

static void write_chipcmd(rtl *s, uint32_t v) {
  v &= 0xff;
  if (v & CMD_RST) chip_reset(s);
  if (v & CMD_RE) s->rx_cur = 0;
  if (v & CMD_TE) s->tx_cur = 0;
  s->chipcmd = (uint8_t)(masked(v, 0xe3, s->chipcmd) & ~(uint32_t)CMD_RST);   /* RST self-clears */
}

static void write_cfg9346(rtl *s, uint32_t v) {
  v = masked(v & 0xff, 0x31, s->cfg9346);
  if ((v & 0xc0) == 0x80) ee_wires(&s->ee, (v & 0x08) != 0, (v & 0x04) != 0, (v & 0x02) != 0);
  else if ((v & 0xc0) == 0x40) { v = 0; chip_reset(s); }   /* autoload: a reset */
  s->cfg9346 = (uint8_t)v;
}

static void write_txconfig(rtl *s, uint32_t v) {
  if (!(s->chipcmd & CMD_TE)) return;       /* QEMU takes TxConfig only with the transmitter on */
  s->txconfig = masked(v, 0x7c800000u | 0x8070f80fu, s->txconfig);
}

static void write_rxconfig(rtl *s, uint32_t v) {
  s->rxconfig = masked(v, 0xf0fc0040u, s->rxconfig);
  s->rxbuf_size = 8192u << ((s->rxconfig >> 11) & 3);
  s->capr = s->cbr = 0;
}

static void write_isr(rtl *s, uint32_t v) {
  s->isr = (uint16_t)masked(s->isr & ~v, 0x1e00, s->isr);
  update_irq(s);
  retry(s);                                 /* 8139cp acks RX around refilling its ring */
}

static void write_imr(rtl *s, uint32_t v) {
  s->imr = (uint16_t)masked(v, 0x1e00, s->imr);
  update_irq(s);
  retry(s);                                 /* ... and unmasks RX once it has refilled */
}

static void write_txstatus(rtl *s, uint32_t off, uint32_t v) {
  unsigned i = (off / 4) & 3;
  if (s->cplus) {                           /* DTCCR: bit 3 dumps the tally block, then clears */
    s->txstatus[i] = v;
    if (i == 0 && (v & 0x8)) { tally_dump(s); s->txstatus[0] &= ~0x8u; }
    return;
  }
  v &= ~0xff00c000u;
  s->txstatus[i] = masked(v, 0x00c00000u, s->txstatus[i]);
  cmode_transmit(s);
}

static void write_bmcr(rtl *s, uint32_t v) {
  if (v & 0x8000) reset_phy(s);
  s->bmcr = (uint16_t)masked(v & 0xffff, 0xfdff, s->bmcr);   /* speed, duplex, autoneg fixed */
}

static void write8(rtl *s, uint32_t off, uint32_t v) {
  v &= 0xff;
  switch (off) {
  case R_IDR ... R_IDR + 5: s->idr[off] = (uint8_t)v; break;
  case R_MAR ... R_MAR + 7: s->mar[off - R_MAR] = (uint8_t)v; break;
  case R_CHIPCMD: write_chipcmd(s, v); retry(s); break;
  case R_CFG9346: write_cfg9346(s, v); break;
  case R_TXCONFIG: write_txconfig(s, (s->txconfig & 0xffffff00u) | v); break;
  case R_RXCONFIG: write_rxconfig(s, (s->rxconfig & 0xffffff00u) | v); break;
  case R_CONFIG0: if (config_unlocked(s)) s->config0 = (uint8_t)masked(v, 0xf8, s->config0); break;
  case R_CONFIG1: if (config_unlocked(s)) s->config1 = (uint8_t)masked(v, 0x0c, s->config1); break;
  case R_CONFIG3: if (config_unlocked(s)) s->config3 = (uint8_t)masked(v, 0x8f, s->config3); break;
  case R_CONFIG4: if (config_unlocked(s)) s->config4 = (uint8_t)masked(v, 0x0a, s->config4); break;
  case R_CONFIG5: s->config5 = (uint8_t)masked(v, 0x80, s->config5); break;   /* not locked in QEMU */
  case R_HLTCLK:
    if (v == 'R') s->clock_on = 1;
    else if (v == 'H') s->clock_on = 0;
    break;
  case R_TXTHRESH: s->txthresh = (uint8_t)v; break;
  case R_TXPOLL:
    if (v & 0x40) cplus_transmit(s);        /* bit 7, the high-priority ring, is not modelled */
    break;
  default: break;                           /* MediaStatus and the rest: ignored */
  }
}

static void write16(rtl *s, uint32_t off, uint32_t v) {
  v &= 0xffff;
  switch (off) {
  case R_IMR: write_imr(s, v); break;
  case R_ISR: write_isr(s, v); break;
  case R_MULTIINTR: s->multiintr = (uint16_t)masked(v, 0xf000, s->multiintr); break;
  case R_CAPR:                              /* off by 16, as the chip keeps it */
    s->capr = (v + 16) % s->rxbuf_size;
    retry(s);
    break;
  case R_BMCR: write_bmcr(s, v); break;
  case R_BMSR: s->bmsr = (uint16_t)masked(v, 0xff3f, s->bmsr); break;
  case R_ANAR: s->anar = (uint16_t)v; break;
  case R_ANLPAR: break;
  case R_ANER: s->aner = (uint16_t)v; break;
  case R_CPCMD:
    s->cplus = 1;
    s->cpcmd = (uint16_t)masked(v, 0xff84, s->cpcmd);
    retry(s);
    break;
  case R_MITIGATE: break;
  default:
    write8(s, off, v & 0xff);
    write8(s, off + 1, v >> 8);
    break;
  }
}

static void write32(rtl *s, uint32_t off, uint32_t v) {
  switch (off) {
  case R_MISSED: s->missed = 0; break;
  case R_TXCONFIG: write_txconfig(s, v); break;
  case R_RXCONFIG: write_rxconfig(s, v); break;
  case R_TXSTATUS ... R_TXSTATUS + 15: write_txstatus(s, off - R_TXSTATUS, v); break;
  case R_TXADDR ... R_TXADDR + 15: s->txaddr[(off - R_TXADDR) / 4] = v; break;
  case R_RXBUF: s->rxbuf = v; break;
  case R_RXRING_LO: s->rxring_lo = v; break;
  case R_RXRING_HI: s->rxring_hi = v; break;
  case R_TIMER: s->tctr_base = dtimer_now(s->clock); break;
  case R_TIMERINT: s->timerint = v; break;  /* kept; the timer interrupt is not modelled */
  default:
    for (int i = 0; i < 4; i++) write8(s, off + (uint32_t)i, (v >> (8 * i)) & 0xff);
    break;
  }
}

/* ---- register reads ---- */

/* Part of one of four 32-bit registers: aligned reads only, as QEMU answers them. */
static uint32_t part(const uint32_t *regs, uint32_t off, int size) {
  if (off & (uint32_t)(size - 1)) return 0;
  uint32_t v = regs[off / 4] >> (8 * (off & 3));
  return size == 4 ? v : v & ((1u << (8 * size)) - 1);
}

static uint32_t read8(rtl *s, uint32_t off) {
  switch (off) {
  case R_IDR ... R_IDR + 5: return s->idr[off];
  case R_MAR ... R_MAR + 7: return s->mar[off - R_MAR];
  case R_TXSTATUS ... R_TXSTATUS + 15: return part(s->txstatus, off - R_TXSTATUS, 1);
  case R_CHIPCMD: {
    uint32_t unread = (s->rxbuf_size + s->cbr - s->capr) % s->rxbuf_size;
    return s->chipcmd | (unread ? 0 : CMD_BUFE);
  }
  case R_CFG9346: {
    uint32_t v = s->cfg9346;
    if ((v & 0xc0) == 0x80) v = (v & ~1u) | (s->ee.cs ? s->ee.dout : 0);
    return v;
  }
  case R_CONFIG0: return s->config0;
  case R_CONFIG1: return s->config1;
  case R_CONFIG3: return s->config3;
  case R_CONFIG4: return s->config4;
  case R_CONFIG5: return s->config5;
  case R_MEDIA: return 0xd0 | (~s->bmsr & 0x04);                /* LinkDown: BMSR's link, inverted */
  case R_HLTCLK: return s->clock_on;
  case R_REVID: return 0x20;
  case R_TXTHRESH: return s->txthresh;
  case R_TXCONFIG + 3: return s->txconfig >> 24;                /* the chip version byte */
  default: return 0;
  }
}

static uint32_t read16(rtl *s, uint32_t off) {
  switch (off) {
  case R_TXADDR ... R_TXADDR + 15: return part(s->txaddr, off - R_TXADDR, 2);
  case R_IMR: return s->imr;
  case R_ISR: return s->isr;                /* reading does not clear */
  case R_MULTIINTR: return s->multiintr;
  case R_CAPR: return (s->capr - 16) & 0xffff;
  case R_CBR: return s->cbr & 0xffff;
  case R_BMCR: return s->bmcr;
  case R_BMSR: return s->bmsr;
  case R_ANAR: return s->anar;
  case R_ANLPAR: return s->anlpar;
  case R_ANER: return s->aner;
  case R_CPCMD: return s->cpcmd;
  case R_MITIGATE: return 0;
  case R_TSAD: {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
      if (s->txstatus[i] & TXS_OK) v |= 1u << (12 + i);
      if (s->txstatus[i] & 0x4000) v |= 1u << (8 + i);
      if (s->txstatus[i] & 0x40000000u) v |= 1u << (4 + i);
      if (s->txstatus[i] & TXS_OWN) v |= 1u << i;
    }
    return v;
  }
  case R_CSCR: return s->cscr;
  default: return read8(s, off) | read8(s, off + 1) << 8;
  }
}

static uint32_t read32(rtl *s, uint32_t off) {
  switch (off) {
  case R_MISSED: return s->missed;
  case R_TXCONFIG: return s->txconfig;
  case R_RXCONFIG: return s->rxconfig;
  case R_TXSTATUS ... R_TXSTATUS + 15: return part(s->txstatus, off - R_TXSTATUS, 4);
  case R_TXADDR ... R_TXADDR + 15: return s->txaddr[(off - R_TXADDR) / 4];
  case R_RXBUF: return s->rxbuf;
  case R_RXRING_LO: return s->rxring_lo;
  case R_RXRING_HI: return s->rxring_hi;
  case R_TIMER: return (uint32_t)((dtimer_now(s->clock) - s->tctr_base) / PCI_PERIOD_NS);
  case R_TIMERINT: return s->timerint;
  default: {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= read8(s, off + (uint32_t)i) << (8 * i);
    return v;
  }
  }
}

/* Both BARs decode the same 256 bytes (QEMU's memory BAR is an alias of the I/O one). */
static uint64_t regs_read(void *dev, uint64_t off, int size) {
  rtl *s = dev;
  uint32_t o = (uint32_t)(off & 0xff);
  switch (size) {
  case 1: return read8(s, o);
  case 2: return read16(s, o);
  case 4: return read32(s, o);
  case 8: return read32(s, o) | (uint64_t)read32(s, (o + 4) & 0xff) << 32;
  default: return 0;
  }
}

static void regs_write(void *dev, uint64_t off, uint64_t val, int size) {
  rtl *s = dev;
  uint32_t o = (uint32_t)(off & 0xff);
  switch (size) {
  case 1: write8(s, o, (uint32_t)val); break;
  case 2: write16(s, o, (uint32_t)val); break;
  case 4: write32(s, o, (uint32_t)val); break;
  case 8: write32(s, o, (uint32_t)val); write32(s, (o + 4) & 0xff, (uint32_t)(val >> 32)); break;
  default: break;
  }
}

static const bus_dev_ops regs_ops = {regs_read, regs_write};

/* ---- the PCI function and the NIC base ---- */

static void pci_reset(pci_dev *d) { chip_reset(d->owner); }
static const pci_dev_ops rtl_pci_ops = {NULL, NULL, pci_reset};

/* The link changed: BMSR and MediaStatus follow it, and LinkChg tells the driver (QEMU's
 * rtl8139_set_link_status). */
static void link_changed(nic *n) {
  rtl *s = (rtl *)n;
  if (n->link_up) s->bmsr |= 0x04;
  else s->bmsr &= ~0x04;
  s->isr |= INT_LINKCHG;
  update_irq(s);
}

static void *rtl_create(const uint8_t mac[6], const char *name, dtimer_clock *clock) {
  rtl *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  nic_init(&s->base, &rtl_port_ops, s, mac, name, link_changed);
  s->clock = clock;
  dtimer_init(&s->retry, clock, retry_fire, s);
  static const pci_id id = {0x10ec, 0x8139, 0x20, 0x020000, 0x1af4, 0x1100, 1};
  pci_dev_init(&s->pci, &id, &rtl_pci_ops, s, "rtl8139");
  /* QEMU points the capability list at 0xdc but never sets STATUS.CAP_LIST: copied as it shows. */
  s->pci.cfg[PCI_CAPABILITY_LIST] = 0xdc;
  pci_register_bar(&s->pci, 0, PCI_BAR_IO, 0x100, &regs_ops, s);
  pci_register_bar(&s->pci, 1, PCI_BAR_MEM32, 0x100, &regs_ops, s);
  s->ee.word[0] = 0x8129;
  s->ee.word[1] = 0x10ec;
  s->ee.word[2] = 0x8139;
  for (int i = 0; i < 3; i++) s->ee.word[7 + i] = (uint16_t)(mac[2 * i] | mac[2 * i + 1] << 8);
  chip_reset(s);
  return s;
}

static pci_dev *rtl_pci(void *card) { return &((rtl *)card)->pci; }
static nic *rtl_nic(void *card) { return &((rtl *)card)->base; }

static void rtl_destroy(void *card) {
  rtl *s = card;
  if (!s) return;
  dtimer_cancel(&s->retry);
  net_port_detach(&s->base.port);
  free(s);
}

static void rtl_counters(void *card, nic_counter_fn put, void *ud) {
  const counters *c = &((rtl *)card)->c;
  put(ud, "tx_frames", c->tx_frames);
  put(ud, "tx_bytes", c->tx_bytes);
  put(ud, "rx_frames", c->rx_frames);
  put(ud, "rx_bytes", c->rx_bytes);
  put(ud, "rx_filtered", c->rx_filtered);
  put(ud, "rx_disabled", c->rx_disabled);
  put(ud, "rx_held", c->rx_held);
  put(ud, "rx_overflow", c->rx_overflow);
  put(ud, "bad_descriptors", c->bad_descriptors);
  put(ud, "dma_refused", c->dma_refused);
  put(ud, "tx_runt", c->tx_runt);
  put(ud, "tx_oversize", c->tx_oversize);
  put(ud, "tx_poll_limit", c->tx_poll_limit);
  put(ud, "offload_done", c->offload_done);
  put(ud, "offload_refused", c->offload_refused);
  put(ud, "tso_frames", c->tso_frames);
  put(ud, "tally_dumps", c->tally_dumps);
}

const nic_pci_model rtl8139_model = {
  "rtl8139", rtl_create, rtl_pci, rtl_nic, rtl_destroy, rtl_counters,
};
