/* fuzz_pci: libFuzzer target for a PCI device model driven as a hostile guest drives it. The input
 * is a program: register reads and writes of any width at any offset of every BAR, configuration
 * writes, guest RAM contents (descriptor rings and buffers the device walks), frames arriving from
 * the VLAN, the device clock moving on, the link going down and up, and the VLAN's other port
 * refusing frames for a while. Built once per model (FUZZ_MODEL names it): e1000, rtl8139,
 * ne2k_pci, and virtio-net-pci through its transport. What it checks is what ASan and UBSan see:
 * nothing out of bounds, nothing undefined, nothing leaked, and every operation returning. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "dtimer.h"
#include "e1000.h"
#include "ne2k_pci.h"
#include "nic.h"
#include "pci.h"
#include "port.h"
#include "rt.h"
#include "rtl8139.h"
#include "virtio_net.h"
#include "virtio_pci.h"

#define RAM 0x80000000ull
#define RAMSZ 0x40000ull                  /* 256 KiB: rings and buffers land in it often */
#define IOBASE 0x1000ull
#define MEMBASE 0x40000000ull

static lemu_rt *rt;
static net_hub *hub;
static uint64_t now_ns;

static uint64_t clock_now(void *ud) { (void)ud; return now_ns; }
static void on_intx(void *ud, int line, int level) { (void)ud; (void)line; (void)level; }

/* The VLAN's other end: takes frames unless told to refuse (backpressure toward the card). */
typedef struct peer { net_port port; int refuse; } peer;
static int peer_rx(net_port *p, net_frame *f) { (void)f; return !((peer *)p->owner)->refuse; }
static const net_port_ops peer_ops = {"fuzz", peer_rx};

typedef struct dev {
  void *card;                 /* a classic NIC's, or the vnet */
  virtio_pci *t;
  pci_dev *d;
  nic *n;
} dev;

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static int make(dev *x, bus *b, dtimer_clock *clk) {
  memset(x, 0, sizeof *x);
#if defined(FUZZ_VIRTIO)
  (void)clk;
  vnet *v = vnet_new(mac, "fuzz");
  x->t = virtio_pci_new(b, &vnet_ops, v);
  vnet_bind(v, virtio_pci_virtio(x->t));
  x->card = v;
  x->d = virtio_pci_dev(x->t);
  x->n = vnet_nic(v);
#else
  (void)b;
  x->card = FUZZ_MODEL.create(mac, "fuzz", clk);
  if (!x->card) return -1;
  x->d = FUZZ_MODEL.pci(x->card);
  x->n = FUZZ_MODEL.nic(x->card);
#endif
  return 0;
}

static void destroy(dev *x) {
  net_port_detach(&x->n->port);
#if defined(FUZZ_VIRTIO)
  virtio_pci_free(x->t);
  vnet_free(x->card);
#else
  FUZZ_MODEL.destroy(x->card);
#endif
}

/* Reads n little-endian bytes of the program, 0 past its end. */
typedef struct prog { const uint8_t *p; size_t n, i; } prog;
static uint32_t take(prog *g, int n) {
  uint32_t v = 0;
  for (int k = 0; k < n; k++) v |= (uint32_t)(g->i < g->n ? g->p[g->i++] : 0) << (8 * k);
  return v;
}

/* The runtime's SIGINT and SIGTERM watchers would take those signals (libFuzzer keeps a handler
 * it finds), and a run told to stop would go on: they go back to the default before libFuzzer
 * installs its own. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc; (void)argv;
  const char *err;
  rt = lemu_rt_new(&err);
  if (!rt) abort();
  hub = net_hub_new(rt, "fuzz");
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bus *b = bus_new();
  uint8_t *ram = bus_add_ram(b, RAM, RAMSZ, "ram");
  pci_bus_hooks h = {NULL, on_intx};
  pci_bus *pb = pci_bus_new(b, &h);
  pci_window io = {pb, 0, 1}, mem = {pb, 0, 0};
  dtimer_clock clk;
  now_ns = 0;
  dtimer_clock_init(&clk, clock_now, NULL, NULL);
  dev x;
  if (make(&x, b, &clk) < 0) abort();
  pci_bus_plug(pb, x.d, 8);
  net_port_attach(&x.n->port, hub);
  peer other;
  memset(&other, 0, sizeof other);
  net_port_init(&other.port, &peer_ops, &other, "peer");
  net_port_attach(&other.port, hub);
  /* Where firmware would put the BARs; then decoding and bus mastering on. */
  uint64_t base[PCI_NUM_BARS] = {0};
  uint64_t next_mem = MEMBASE, next_io = IOBASE;
  for (int i = 0; i < PCI_NUM_BARS; i++) {
    const pci_bar *bar = &x.d->bar[i];
    if (!bar->size) continue;
    uint64_t *nx = bar->type == PCI_BAR_IO ? &next_io : &next_mem;
    *nx = (*nx + bar->size - 1) & ~(bar->size - 1);
    base[i] = *nx;
    *nx += bar->size;
    pci_config_write(x.d, PCI_BAR0 + 4 * (uint32_t)i, (uint32_t)base[i], 4);
    if (bar->type & PCI_BAR_MEM64) pci_config_write(x.d, PCI_BAR0 + 4 * (uint32_t)i + 4, 0, 4);
  }
  pci_config_write(x.d, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);

  prog g = {data, size, 0};
  uint8_t frame[2048];
  for (int steps = 0; g.i < g.n && steps < 4096; steps++) {
    uint32_t op = take(&g, 1);
    net_hold();                          /* as a machine holds the netstack while harts run */
    switch (op % 9) {
    case 0: case 1: {                    /* a register access (reads twice as likely as... ) */
      int i = (int)(take(&g, 1) % PCI_NUM_BARS);
      const pci_bar *bar = &x.d->bar[i];
      uint32_t off = take(&g, 4);
      static const int sizes[] = {1, 2, 4, 8};
      int sz = sizes[take(&g, 1) % 4];
      uint32_t v = take(&g, 4);
      if (!bar->size) break;
      uint64_t a = base[i] + (off % bar->size);
      pci_window *w = bar->type == PCI_BAR_IO ? &io : &mem;
      if (op % 9 == 0) pci_window_ops.write(w, a, v, sz);
      else (void)pci_window_ops.read(w, a, sz);
      break;
    }
    case 2: {                            /* guest RAM: rings, descriptors, buffers */
      uint32_t at = take(&g, 3) % RAMSZ;
      uint32_t n = take(&g, 1) + 1;
      for (uint32_t k = 0; k < n && at + k < RAMSZ; k++) ram[at + k] = (uint8_t)take(&g, 1);
      break;
    }
    case 3: {                            /* a descriptor-sized pointer into RAM or just past it */
      uint32_t at = take(&g, 3) % RAMSZ & ~7u;
      uint64_t p = RAM + (take(&g, 3) % (RAMSZ + 0x1000));
      if (at + 8 <= RAMSZ) memcpy(ram + at, &p, 8);
      break;
    }
    case 4: {                            /* a frame from the VLAN */
      uint32_t len = 14 + take(&g, 2) % 1600;
      memcpy(frame, x.n->mac, 6);
      if (take(&g, 1) & 1) memset(frame, 0xff, 6);
      for (uint32_t k = 6; k < len; k++) frame[k] = (uint8_t)(g.i < g.n ? g.p[g.i++] : k);
      net_port_send(&other.port, frame, len);
      break;
    }
    case 5:                              /* time passes */
      now_ns += (uint64_t)take(&g, 3) * 1000;
      dtimer_run(&clk);
      break;
    case 6:
      pci_config_write(x.d, take(&g, 1), take(&g, 4), (int[]){1, 2, 4}[take(&g, 1) % 3]);
      break;
    case 7:
      nic_set_link(x.n, (int)(take(&g, 1) & 1));
      break;
    case 8:
      other.refuse = (int)(take(&g, 1) & 1);
      if (!other.refuse) net_port_ready(&other.port);
      break;
    }
    net_release();
  }
  net_port_detach(&other.port);
  pci_bus_free(pb);
  destroy(&x);
  bus_free(b);
  return 0;
}
