/* ne2k_pci: the RTL8029 (NE2000 on PCI) — its PCI function, the DP8390 registers, the card memory
 * with its PROM, remote DMA through the data port, the receive ring with its filter and
 * backpressure, transmit from packet RAM, and the model table the registry uses. See ne2k_pci.h.
 * Register and data-port decoding follow QEMU 7.2 (hw/net/ne2000.c) where a guest can see it. */
#include "ne2k_pci.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "dtimer.h"
#include "inet.h"

#define NE2K_MEM 0xc000u              /* card memory; the array is the whole of it */
#define NE2K_PROM 32u                 /* station-address PROM at 0 */
#define NE2K_PMEM_START 0x4000u       /* packet RAM, pages 0x40..0xbf */
#define NE2K_PMEM_END 0xc000u
#define NE2K_PMEM_SIZE (NE2K_PMEM_END - NE2K_PMEM_START)
#define NE2K_FRAME_MAX 1518u          /* the largest Ethernet frame without FCS (a VLAN tag in it) */
#define NE2K_FRAME_MIN 60u            /* received frames are padded to this */
#define NE2K_IO_SIZE 0x100u

/* I/O ports */
enum { P_CMD = 0x00, P_DATA = 0x10, P_RESET = 0x1f };
/* CMD bits; bits 7:6 select the register page */
enum { CMD_STOP = 0x01, CMD_TXP = 0x04, CMD_RREAD = 0x08, CMD_RWRITE = 0x10 };
/* ISR bits */
enum { ISR_PRX = 0x01, ISR_PTX = 0x02, ISR_RDC = 0x40, ISR_RST = 0x80 };
enum { RSR_RXOK = 0x01, RSR_PHY = 0x20, TSR_PTX = 0x01 };
enum { RCR_AB = 0x04, RCR_AM = 0x08, RCR_PRO = 0x10, DCR_WTS = 0x01 };

typedef struct ne2k_counters {
  uint64_t tx_frames, tx_refused, rx_frames, rx_held, rx_dropped_stopped, rx_dropped_filter,
      rx_dropped_ring, rx_dropped_oversize, rx_curr_fixed, bad_registers, bad_accesses;
} ne2k_counters;

typedef struct ne2k {
  nic base;                           /* first: a nic * is an ne2k * */
  pci_dev pci;
  uint8_t cmd, isr, imr, dcr, rcr, tcr, tsr, rsr, tpsr, bnry, curr;
  uint16_t tbcr, rbcr;
  uint32_t pstart, pstop;             /* ring bounds as byte addresses (page << 8) */
  uint32_t rsar;                      /* remote DMA address; 32 bits as on QEMU, so DMA runs past
                                       * 0xffff into memory that reads all-ones */
  uint8_t par[6], mar[8];
  int holding;                        /* the port's first frame waits for room (counted once) */
  dtimer retry;                       /* offers held frames again, after the driver's access */
  dtimer_clock *clock;                /* NULL: offered at once (no machine around the card) */
  ne2k_counters n;
  uint8_t mem[NE2K_MEM];
} ne2k;
/* The memory ends the allocation: an access past it is past the heap block, which ASan reports. */
_Static_assert(sizeof(ne2k) == offsetof(ne2k, mem) + NE2K_MEM, "no padding after mem");

static void ne2k_irq(ne2k *c) {
  /* RST (bit 7) never interrupts. */
  pci_set_irq(&c->pci, (c->isr & c->imr & 0x7f) != 0);
}

static void ne2k_retry(dtimer *t) { net_port_ready(&((ne2k *)t->ud)->base.port); }

/* The driver made room or changed what the card does with frames: offer what waits at the port,
 * on the clock, not inside this register access. Frames must reach the ring as if from the wire,
 * between the driver's accesses: lib8390's ei_receive takes at most 9 frames a turn and then acks
 * PRX, so frames that entered on its BNRY writes would have their PRX acked unseen, and with the
 * ring full and the rest held no frame would ever raise it again. */
static void ne2k_ready(ne2k *c) {
  if (c->base.port.qlen == 0) return;
  if (!c->clock) net_port_ready(&c->base.port);
  else if (!dtimer_armed(&c->retry)) dtimer_arm(&c->retry, 0);
}

/* The reset port's work, as on QEMU: ISR.RST and the PROM rebuilt, nothing else. The PROM holds
 * the MAC, 0x57 0x57 at bytes 14-15, each byte doubled for word-wide reads. QEMU doubles it in
 * place from the top down, so PROM bytes 6-13 come from whatever card memory 6-13 held before (0
 * at first, then doubled MAC bytes or what the guest wrote there): reproduced, since a driver
 * reading all 16 bytes sees it. */
static void ne2k_prom(ne2k *c) {
  c->isr = ISR_RST;
  memcpy(c->mem, c->base.mac, 6);
  c->mem[14] = c->mem[15] = 0x57;
  for (int i = 15; i >= 0; i--) c->mem[2 * i + 1] = c->mem[2 * i] = c->mem[i];
}

/* Power-on (and PCI reset) state: every register 0, memory clear, then the reset port's work. */
static void ne2k_chip_reset(ne2k *c) {
  c->cmd = c->isr = c->imr = c->dcr = c->rcr = c->tcr = c->tsr = c->rsr = 0;
  c->tpsr = c->bnry = c->curr = 0;
  c->tbcr = c->rbcr = 0;
  c->pstart = c->pstop = c->rsar = 0;
  memset(c->par, 0, sizeof c->par);
  memset(c->mar, 0, sizeof c->mar);
  memset(c->mem, 0, sizeof c->mem);
  ne2k_prom(c);
}

/* ---- receive: VLAN -> ring ---- */

static int ne2k_accept(const ne2k *c, const uint8_t *d) {
  static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  if (c->rcr & RCR_PRO) return 1;
  if (memcmp(d, bcast, 6) == 0) return (c->rcr & RCR_AB) != 0;
  if (d[0] & 1) {
    if (!(c->rcr & RCR_AM)) return 0;
    unsigned h = inet_ether_crc(d, 6) >> 26;   /* the 64-bit MAR's index */
    return (c->mar[h >> 3] >> (h & 7)) & 1;
  }
  /* Unicast against the PROM, not PAR: QEMU ignores what the driver writes to PAR. */
  for (int i = 0; i < 6; i++)
    if (c->mem[2 * i] != d[i]) return 0;
  return 1;
}

/* Copies len bytes (zeros if src is NULL) into the ring at *at, wrapping at PSTOP. *at is in
 * [pstart, pstop) and len shorter than the ring, so this runs at most twice round. */
static void ne2k_ring_put(ne2k *c, uint32_t *at, const uint8_t *src, size_t len) {
  while (len > 0) {
    size_t n = c->pstop - *at < len ? c->pstop - *at : len;
    if (src) memcpy(c->mem + *at, src, n);
    else memset(c->mem + *at, 0, n);
    if (src) src += n;
    *at += (uint32_t)n;
    if (*at == c->pstop) *at = c->pstart;
    len -= n;
  }
}

static int ne2k_receive(net_port *p, net_frame *f) {
  ne2k *c = p->owner;
  size_t size = f->len;
  /* A stopped card drops, as QEMU's does: an unused card holds no queue. */
  if (c->cmd & CMD_STOP) { c->n.rx_dropped_stopped++; c->holding = 0; return 1; }
  /* No ring (PSTOP <= PSTART, QEMU's CVE-2016-2841 check): nothing to hold for. */
  if (c->pstop <= c->pstart) { c->n.rx_dropped_ring++; c->holding = 0; return 1; }
  if (size > NE2K_FRAME_MAX) { c->n.rx_dropped_oversize++; c->holding = 0; return 1; }
  if (!ne2k_accept(c, f->data)) { c->n.rx_dropped_filter++; c->holding = 0; return 1; }
  size_t len = size < NE2K_FRAME_MIN ? NE2K_FRAME_MIN : size;
  size_t count = len + 4;                           /* the header's byte count: header + frame */
  unsigned pages = (unsigned)((count + 4 + 255) >> 8);   /* QEMU also reserves the CRC's 4 */
  unsigned start = c->pstart >> 8, stop = c->pstop >> 8, ring = stop - start;
  /* At most ring - 1 pages are free with the ring empty (BNRY one behind CURR): a frame that
   * needs as many can never go in and would block the port's queue for good. */
  if (pages + 1 >= ring) { c->n.rx_dropped_ring++; c->holding = 0; return 1; }
  /* CURR outside the ring starts at PSTART (QEMU's CVE-2015-5279 fix clamps only past packet RAM;
   * inside it but outside the ring would write below PSTART or past PSTOP). */
  unsigned cur = c->curr;
  if (cur < start || cur >= stop) { cur = start; c->n.rx_curr_fixed++; }
  /* Free pages from CURR up to BNRY, modulo the ring (QEMU's arithmetic in pages; BNRY may sit
   * one below PSTART, as Linux leaves it). CURR == BNRY counts as empty, as on QEMU; the card
   * itself never moves CURR onto BNRY, since a frame needs fewer pages than are free. */
  unsigned room = (unsigned)((((int)c->bnry - (int)cur) % (int)ring + (int)ring) % (int)ring);
  if (room == 0) room = ring;
  if (pages >= room) {
    if (!c->holding) c->n.rx_held++;
    c->holding = 1;
    return 0;                                       /* waits at the port for BNRY to move */
  }
  c->holding = 0;
  unsigned next = cur + pages;
  if (next >= stop) next -= ring;
  c->rsr = RSR_RXOK | ((f->data[0] & 1) ? RSR_PHY : 0);
  uint32_t at = (uint32_t)cur << 8;
  uint8_t hdr[4] = {c->rsr, (uint8_t)next, (uint8_t)count, (uint8_t)(count >> 8)};
  memcpy(c->mem + at, hdr, sizeof hdr);             /* a page holds it: no wrap */
  at += sizeof hdr;
  ne2k_ring_put(c, &at, f->data, size);
  ne2k_ring_put(c, &at, NULL, len - size);
  c->curr = (uint8_t)next;
  c->isr |= ISR_PRX;
  c->n.rx_frames++;
  ne2k_irq(c);
  return 1;
}

static const net_port_ops ne2k_port_ops = {"ne2k_pci", ne2k_receive};

/* ---- transmit: packet RAM -> VLAN ---- */

static void ne2k_transmit(ne2k *c) {
  uint32_t at = (uint32_t)c->tpsr << 8;
  if (at >= NE2K_PMEM_END) at -= NE2K_PMEM_SIZE;   /* QEMU's NetWare 3.11 wrap */
  size_t len = c->tbcr;
  if (len < NET_FRAME_MIN || len > NE2K_FRAME_MAX || at < NE2K_PMEM_START ||
      at + len > NE2K_PMEM_END)
    c->n.tx_refused++;
  else if (net_port_send(&c->base.port, c->mem + at, len) == 0)
    c->n.tx_frames++;                               /* (link down: counted by the port) */
  /* Done either way, as on QEMU: the driver goes on. */
  c->tsr = TSR_PTX;
  c->isr |= ISR_PTX;
  c->cmd &= (uint8_t)~CMD_TXP;
  ne2k_irq(c);
}

/* ---- registers ---- */

static void ne2k_cmd(ne2k *c, uint8_t v) {
  int was_stopped = c->cmd & CMD_STOP;
  c->cmd = v;
  if (!(v & CMD_STOP)) {
    c->isr &= (uint8_t)~ISR_RST;
    /* A remote DMA of 0 bytes completes at once. */
    if ((v & (CMD_RREAD | CMD_RWRITE)) && c->rbcr == 0) {
      c->isr |= ISR_RDC;
      ne2k_irq(c);
    }
    if (v & CMD_TXP) ne2k_transmit(c);
  }
  /* Started: held frames may go in; stopped: they are dropped, not kept. */
  if (!was_stopped != !(v & CMD_STOP)) ne2k_ready(c);
}

/* A page number written to PSTART/PSTOP (at most the end of packet RAM) or BNRY/CURR (a page
 * inside it): QEMU's CVE-2016-2841 checks. 0 if refused (counted). */
static int ne2k_page_ok(ne2k *c, uint8_t v, int end_ok) {
  uint32_t at = (uint32_t)v << 8;
  if (end_ok ? at <= NE2K_PMEM_END : at < NE2K_PMEM_END) return 1;
  c->n.bad_registers++;
  return 0;
}

static void ne2k_reg_write(ne2k *c, unsigned off, uint8_t v) {
  if (off == P_CMD) { ne2k_cmd(c, v); return; }
  switch ((unsigned)(c->cmd >> 6) << 4 | off) {
  case 0x01: if (ne2k_page_ok(c, v, 1)) { c->pstart = (uint32_t)v << 8; ne2k_ready(c); } break;
  case 0x02: if (ne2k_page_ok(c, v, 1)) { c->pstop = (uint32_t)v << 8; ne2k_ready(c); } break;
  case 0x03: if (ne2k_page_ok(c, v, 0)) { c->bnry = v; ne2k_ready(c); } break;
  case 0x04: c->tpsr = v; break;
  case 0x05: c->tbcr = (uint16_t)((c->tbcr & 0xff00) | v); break;
  case 0x06: c->tbcr = (uint16_t)((c->tbcr & 0x00ff) | v << 8); break;
  case 0x07: c->isr &= (uint8_t)~(v & 0x7f); ne2k_irq(c); break;   /* RST stays */
  /* RSAR as QEMU: a byte write keeps the other byte and clears what DMA carried past 16 bits. */
  case 0x08: c->rsar = (c->rsar & 0xff00) | v; break;
  case 0x09: c->rsar = (c->rsar & 0x00ff) | (uint32_t)v << 8; break;
  case 0x0a: c->rbcr = (uint16_t)((c->rbcr & 0xff00) | v); break;
  case 0x0b: c->rbcr = (uint16_t)((c->rbcr & 0x00ff) | v << 8); break;
  case 0x0c: c->rcr = v; break;
  case 0x0d: c->tcr = v; break;                     /* loopback is not modelled (as on QEMU) */
  case 0x0e: c->dcr = v; break;
  case 0x0f: c->imr = v; ne2k_irq(c); break;
  case 0x11: case 0x12: case 0x13: case 0x14: case 0x15: case 0x16: c->par[off - 1] = v; break;
  case 0x17: if (ne2k_page_ok(c, v, 0)) { c->curr = v; ne2k_ready(c); } break;
  case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e: case 0x1f:
    c->mar[off - 8] = v;
    break;
  default: break;                                   /* page 2 and 3 writes: ignored, as on QEMU */
  }
}

static uint8_t ne2k_reg_read(const ne2k *c, unsigned off) {
  if (off == P_CMD) return c->cmd;
  switch ((unsigned)(c->cmd >> 6) << 4 | off) {
  case 0x03: return c->bnry;
  case 0x04: return c->tsr;
  case 0x07: return c->isr;
  case 0x08: return (uint8_t)c->rsar;
  case 0x09: return (uint8_t)(c->rsar >> 8);
  case 0x0a: return 0x50;                           /* RTL8029 ID: 'P' 'C' */
  case 0x0b: return 0x43;
  case 0x0c: return c->rsr;
  case 0x11: case 0x12: case 0x13: case 0x14: case 0x15: case 0x16: return c->par[off - 1];
  case 0x17: return c->curr;
  case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e: case 0x1f:
    return c->mar[off - 8];
  case 0x21: return (uint8_t)(c->pstart >> 8);
  case 0x22: return (uint8_t)(c->pstop >> 8);
  case 0x35: case 0x36: return 0x40;                /* CONFIG2: 10BaseT; CONFIG3: full duplex */
  default: return 0;                                /* counters, CONFIG0, the rest */
  }
}

/* ---- remote DMA through the data port ---- */

/* Whether a w-byte access at addr stays in the card's memory and where QEMU decodes it: the PROM
 * (a long from 30 runs 2 bytes past it, as on QEMU) or packet RAM. Others read all-ones and drop
 * writes. In 64 bits: addr + w cannot wrap (CVE-2015-8743 class). */
static int ne2k_mem_ok(uint32_t addr, unsigned w) {
  if (addr < NE2K_PROM) return 1;
  return addr >= NE2K_PMEM_START && (uint64_t)addr + w <= NE2K_MEM;
}

/* QEMU moves words and longs from the even address below an odd RSAR. */
static uint32_t ne2k_dma_addr(const ne2k *c, unsigned w) { return w == 1 ? c->rsar : c->rsar & ~1u; }

static void ne2k_dma_step(ne2k *c, unsigned w) {
  c->rsar += w;
  if (c->rsar == c->pstop) c->rsar = c->pstart;
  if (c->rbcr <= w) {
    c->rbcr = 0;
    c->isr |= ISR_RDC;
    ne2k_irq(c);
  } else {
    c->rbcr = (uint16_t)(c->rbcr - w);
  }
}

/* A data-port access of size bytes moves a word per DCR.WTS, or a long for 4 bytes. An inb in word
 * mode is a word DMA whose low byte the bus returns (Linux reads the PROM that way). */
static unsigned ne2k_dma_width(const ne2k *c, int size) {
  return size == 4 ? 4u : (c->dcr & DCR_WTS) ? 2u : 1u;
}

static uint32_t ne2k_data_read(ne2k *c, int size) {
  unsigned w = ne2k_dma_width(c, size);
  uint32_t addr = ne2k_dma_addr(c, w), v = 0;
  if (ne2k_mem_ok(addr, w))
    for (unsigned i = 0; i < w; i++) v |= (uint32_t)c->mem[addr + i] << (8 * i);
  else
    v = w == 4 ? 0xffffffffu : (1u << (8 * w)) - 1;
  ne2k_dma_step(c, w);        /* reads go on with RBCR at 0, as on QEMU */
  return v;
}

static void ne2k_data_write(ne2k *c, uint32_t v, int size) {
  if (c->rbcr == 0) return;
  unsigned w = ne2k_dma_width(c, size);
  uint32_t addr = ne2k_dma_addr(c, w);
  if (ne2k_mem_ok(addr, w))
    for (unsigned i = 0; i < w; i++) c->mem[addr + i] = (uint8_t)(v >> (8 * i));
  ne2k_dma_step(c, w);
}

/* ---- the I/O BAR ---- */

static uint64_t ne2k_ones(int size) { return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1; }

static uint64_t ne2k_io_read(void *dev, uint64_t off, int size) {
  ne2k *c = dev;
  if (size == 8) { c->n.bad_accesses++; return ne2k_ones(size); }   /* no 64-bit port I/O */
  if (off < P_DATA && size == 1) return ne2k_reg_read(c, (unsigned)off);
  if (off == P_DATA) return ne2k_data_read(c, size) & ne2k_ones(size);
  if (off == P_RESET && size == 1) {
    ne2k_prom(c);
    return 0;
  }
  return ne2k_ones(size);                           /* wider register reads too, as on QEMU */
}

static void ne2k_io_write(void *dev, uint64_t off, uint64_t val, int size) {
  ne2k *c = dev;
  if (size == 8) { c->n.bad_accesses++; return; }
  val &= ne2k_ones(size);                           /* an outb in word mode writes a word of it */
  if (off < P_DATA && size == 1) ne2k_reg_write(c, (unsigned)off, (uint8_t)val);
  else if (off == P_DATA) ne2k_data_write(c, (uint32_t)val, size);
  /* A write to the reset port ends the reset pulse: nothing to do. */
}

static const bus_dev_ops ne2k_io_ops = {ne2k_io_read, ne2k_io_write};

/* ---- the PCI function and the model table ---- */

/* QEMU's ne2k_pci has no reset handler (its chip keeps its state over a system reset); here the
 * chip resets with its function, as RST# would reset the real one, and drops what waited. */
static void ne2k_pci_reset(pci_dev *d) {
  ne2k *c = d->owner;
  ne2k_chip_reset(c);
  ne2k_irq(c);
  ne2k_ready(c);
}

static const pci_dev_ops ne2k_pci_ops = {NULL, NULL, ne2k_pci_reset};

/* No link register to tell: carrier is always on for the driver. The port dropped its queue. */
static void ne2k_link_changed(nic *b) { ((ne2k *)b)->holding = 0; }

static void *ne2k_create(const uint8_t mac[6], const char *name, dtimer_clock *clock) {
  ne2k *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->clock = clock;
  if (clock) dtimer_init(&c->retry, clock, ne2k_retry, c);
  nic_init(&c->base, &ne2k_port_ops, c, mac, name, ne2k_link_changed);
  static const pci_id id = {0x10ec, 0x8029, 0, 0x020000, 0x1af4, 0x1100, 1};
  pci_dev_init(&c->pci, &id, &ne2k_pci_ops, c, "ne2k_pci");
  if (pci_register_bar(&c->pci, 0, PCI_BAR_IO, NE2K_IO_SIZE, &ne2k_io_ops, c) < 0) {
    free(c);
    return NULL;
  }
  ne2k_chip_reset(c);
  return c;
}

static pci_dev *ne2k_pci_dev(void *card) { return &((ne2k *)card)->pci; }
static nic *ne2k_nic(void *card) { return &((ne2k *)card)->base; }

static void ne2k_destroy(void *card) {
  ne2k *c = card;
  if (c->clock) dtimer_cancel(&c->retry);
  net_port_detach(&c->base.port);
  free(c);
}

static void ne2k_counters_put(void *card, nic_counter_fn put, void *ud) {
  const ne2k_counters *n = &((ne2k *)card)->n;
  put(ud, "tx_frames", n->tx_frames);
  put(ud, "tx_refused", n->tx_refused);
  put(ud, "rx_frames", n->rx_frames);
  put(ud, "rx_held", n->rx_held);
  put(ud, "rx_dropped_stopped", n->rx_dropped_stopped);
  put(ud, "rx_dropped_filter", n->rx_dropped_filter);
  put(ud, "rx_dropped_ring", n->rx_dropped_ring);
  put(ud, "rx_dropped_oversize", n->rx_dropped_oversize);
  put(ud, "rx_curr_fixed", n->rx_curr_fixed);
  put(ud, "bad_registers", n->bad_registers);
  put(ud, "bad_accesses", n->bad_accesses);
}

const nic_pci_model ne2k_pci_model = {
  "ne2k_pci", ne2k_create, ne2k_pci_dev, ne2k_nic, ne2k_destroy, ne2k_counters_put,
};
