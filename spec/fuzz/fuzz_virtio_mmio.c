/* fuzz_virtio_mmio: libFuzzer target for the virtio-mmio transport (version 2 or legacy 1) with
 * virtio-net, virtio-blk or virtio-rng behind it, driven as a hostile guest drives it. The input's
 * first byte picks the device, the layout and (for the disk) read-only; the rest is a program:
 * register reads and writes of any width on the bus, guest RAM contents and pointers, a driver's
 * set-up of a queue with rings where the input says, descriptors and available-ring entries
 * followed by a kick, frames from the VLAN, the link and the VLAN's other port refusing frames.
 * What it checks is what ASan and UBSan see: nothing out of bounds, nothing undefined, nothing
 * leaked, every operation returning. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bus.h"
#include "log.h"
#include "nic.h"
#include "port.h"
#include "rt.h"
#include "virtio.h"
#include "virtio_blk.h"
#include "virtio_mmio.h"
#include "virtio_net.h"
#include "virtio_rng.h"

#define RAM 0x80000000ull
#define RAMSZ 0x40000ull                  /* 256 KiB: rings and buffers land in it often */
#define MMIO 0x10001000ull

static lemu_rt *rt;
static net_hub *hub;
static vblk *disk[2];                     /* read-write and read-only, on one 8 KiB memfd */

static void on_irq(void *ud, int level) { (void)ud; (void)level; }

typedef struct peer { net_port port; int refuse; } peer;
static int peer_rx(net_port *p, net_frame *f) { (void)f; return !((peer *)p->owner)->refuse; }
static const net_port_ops peer_ops = {"fuzz", peer_rx};

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

typedef struct prog { const uint8_t *p; size_t n, i; } prog;
static uint32_t take(prog *g, int n) {
  uint32_t v = 0;
  for (int k = 0; k < n; k++) v |= (uint32_t)(g->i < g->n ? g->p[g->i++] : 0) << (8 * k);
  return v;
}

static void setup(void) {
  /* Each input is a new device, so its rate limit starts afresh: the guest errors the fuzzer
   * provokes by the million would fill the log (and the disk) with warnings. */
  log_level = LOG_ERROR;
  const char *err;
  rt = lemu_rt_new(&err);
  hub = net_hub_new(rt, "fuzz");
  int fd = memfd_create("fuzz-disk", 0);
  char path[64], msg[256];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  if (fd < 0 || ftruncate(fd, 16 * 512) < 0) abort();
  for (int ro = 0; ro < 2; ro++)
    if (!(disk[ro] = vblk_open(path, ro, msg, sizeof msg))) { fprintf(stderr, "%s\n", msg); abort(); }
}

static void w32(bus *b, uint32_t reg, uint32_t v) { bus_write(b, MMIO + reg, 4, v); }

/* The runtime's SIGINT and SIGTERM watchers would take those signals (libFuzzer keeps a handler
 * it finds), and a run told to stop would go on: they go back to the default before libFuzzer
 * installs its own. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc; (void)argv;
  setup();
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  prog g = {data, size, 0};
  uint32_t sel = take(&g, 1);
  int kind = (int)(sel & 3) % 3, legacy = (int)(sel >> 2 & 1), ro = (int)(sel >> 3 & 1);

  bus *b = bus_new();
  uint8_t *ram = bus_add_ram(b, RAM, RAMSZ, "ram");
  vnet *v = NULL;
  const virtio_device_ops *ops = kind == 0 ? &vnet_ops : kind == 1 ? &vblk_ops : &vrng_ops;
  void *dev = kind == 0 ? (void *)(v = vnet_new(mac, "fuzz")) : kind == 1 ? (void *)disk[ro] : NULL;
  virtio_mmio *t = virtio_mmio_new(b, ops, dev, on_irq, NULL, legacy);
  if (!t || bus_add_mmio(b, MMIO, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, t, "virtio") < 0) abort();
  peer other;
  memset(&other, 0, sizeof other);
  if (v) {
    vnet_bind(v, virtio_mmio_virtio(t));
    net_port_attach(vnet_port(v), hub);
    net_port_init(&other.port, &peer_ops, &other, "peer");
    net_port_attach(&other.port, hub);
  }
  /* Where each queue's rings are, as the last set-up put them (for the descriptor steps). */
  uint32_t desc[VIRTIO_MAX_QUEUES] = {0}, avail[VIRTIO_MAX_QUEUES] = {0};
  uint16_t num[VIRTIO_MAX_QUEUES] = {0}, aidx[VIRTIO_MAX_QUEUES] = {0};

  uint8_t frame[2048];
  for (int steps = 0; g.i < g.n && steps < 4096; steps++) {
    uint32_t op = take(&g, 1);
    net_hold();                          /* as a machine holds the netstack while harts run */
    switch (op % 10) {
    case 0: case 1: {                    /* a register access of any width anywhere in the window */
      uint32_t off = take(&g, 2) % VIRTIO_MMIO_SIZE;
      static const int sizes[] = {4, 4, 1, 2, 8};
      int sz = sizes[take(&g, 1) % 5];
      uint32_t val = take(&g, 4);
      uint64_t r;
      if (op % 10 == 0) bus_write(b, MMIO + off, sz, val);
      else (void)bus_read(b, MMIO + off, sz, &r);
      break;
    }
    case 2: {                            /* a register write at a register's offset */
      uint32_t reg = take(&g, 1) * 4u;
      w32(b, reg, take(&g, 4));
      break;
    }
    case 3: {                            /* guest RAM: rings, descriptors, buffers */
      uint32_t at = take(&g, 3) % RAMSZ;
      uint32_t n = take(&g, 1) + 1;
      for (uint32_t k = 0; k < n && at + k < RAMSZ; k++) ram[at + k] = (uint8_t)take(&g, 1);
      break;
    }
    case 4: {                            /* a driver's set-up of queue q: status, features, rings */
      uint32_t q = take(&g, 1) % (VIRTIO_MAX_QUEUES + 1);
      uint32_t qn = take(&g, 2);
      uint32_t d = (uint32_t)(RAM + (take(&g, 3) % RAMSZ & ~15u));
      uint32_t a = (uint32_t)(RAM + (take(&g, 3) % RAMSZ & ~1u));
      uint32_t u = (uint32_t)(RAM + (take(&g, 3) % RAMSZ & ~3u));
      uint32_t f0 = take(&g, 4), f1 = take(&g, 4), mode = take(&g, 1);
      if (!(mode & 1)) {                 /* from a reset, or another queue of the same driver */
        w32(b, 0x070, 0);
        w32(b, 0x070, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
        w32(b, 0x024, 0); w32(b, 0x020, f0);
        w32(b, 0x024, 1); w32(b, 0x020, f1);
        if (!legacy) w32(b, 0x070, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
      }
      w32(b, 0x030, q);
      w32(b, 0x038, qn);
      if (legacy) {
        w32(b, 0x028, 4096);
        w32(b, 0x03c, 4096);
        w32(b, 0x040, d >> 12);
      } else {
        w32(b, 0x080, d); w32(b, 0x084, 0);
        w32(b, 0x090, a); w32(b, 0x094, 0);
        w32(b, 0x0a0, u); w32(b, 0x0a4, 0);
        w32(b, 0x044, 1);
      }
      if (!(mode & 2))
        w32(b, 0x070, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_DRIVER_OK |
                      (legacy ? 0 : VIRTIO_S_FEATURES_OK));
      if (q < VIRTIO_MAX_QUEUES) {
        num[q] = (uint16_t)(qn ? qn : 1);
        if (legacy) { d &= ~0xfffu; a = d + 16u * num[q]; }
        desc[q] = d; avail[q] = a; aidx[q] = 0;
      }
      break;
    }
    case 5: {                            /* a descriptor, its entry in the available ring, a kick */
      uint32_t q = take(&g, 1) % VIRTIO_MAX_QUEUES;
      if (!num[q]) break;
      uint32_t i = take(&g, 2) % num[q];
      uint64_t addr = RAM + take(&g, 3) % (RAMSZ + 0x1000);
      if (take(&g, 1) & 1) addr = (uint64_t)take(&g, 4) << (take(&g, 1) % 33);
      uint32_t len = take(&g, 2) | (take(&g, 1) & 1 ? take(&g, 4) : 0);
      uint16_t flags = (uint16_t)take(&g, 1), next = (uint16_t)take(&g, 2);
      uint8_t dd[16];
      memcpy(dd, &addr, 8); memcpy(dd + 8, &len, 4); memcpy(dd + 12, &flags, 2); memcpy(dd + 14, &next, 2);
      (void)bus_ram_write(b, desc[q] + 16ull * i, dd, 16);
      if (take(&g, 1) & 1) {
        uint16_t head = (uint16_t)i;
        (void)bus_ram_write(b, avail[q] + 4ull + 2ull * (aidx[q] % num[q]), &head, 2);
        aidx[q]++;
        (void)bus_ram_write(b, avail[q] + 2ull, &aidx[q], 2);
        w32(b, 0x050, q);
      }
      break;
    }
    case 6: {                            /* a frame from the VLAN */
      if (!v) break;
      uint32_t len = 14 + take(&g, 2) % 1600;
      memcpy(frame, mac, 6);
      if (take(&g, 1) & 1) memset(frame, 0xff, 6);
      for (uint32_t k = 6; k < len; k++) frame[k] = (uint8_t)(g.i < g.n ? g.p[g.i++] : k);
      net_port_send(&other.port, frame, len);
      break;
    }
    case 7:
      if (v) vnet_set_link(v, (int)(take(&g, 1) & 1));
      break;
    case 8:
      if (!v) break;
      other.refuse = (int)(take(&g, 1) & 1);
      if (!other.refuse) net_port_ready(&other.port);
      break;
    case 9:                              /* a machine reset */
      virtio_mmio_reset(t);
      break;
    }
    net_release();
  }
  if (v) {
    net_port_detach(&other.port);
    net_port_detach(vnet_port(v));
  }
  virtio_mmio_free(t);
  if (v) vnet_free(v);
  bus_free(b);
  return 0;
}
