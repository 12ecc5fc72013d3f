/* test_virtio: a driver written here against the virtio-mmio registers exercises virtio-net:
 * negotiation, receive with and without merged buffers, transmit with checksum completion,
 * backpressure from an empty ring, link status, and guest-supplied bad addresses that must break
 * the device without touching host memory. Also virtio-rng and virtio-blk requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "ctest.h"
#include "port.h"
#include "rt.h"
#include "virtio.h"
#include "virtio_blk.h"
#include "virtio_mmio.h"
#include "virtio_net.h"
#include "virtio_rng.h"

#define RAM 0x80000000ull
#define RAMSZ 0x100000ull
#define QN 8

typedef struct drv {
  bus *b;
  uint8_t *ram;
  virtio_mmio *t;
  virtio *vd;
  int irq;
  uint64_t desc[2], avail[2], used[2];
  uint16_t avail_idx[2], used_seen[2];
} drv;

static void on_irq(void *ud, int level) { ((drv *)ud)->irq = level; }
static uint32_t rd(drv *d, uint64_t off) { return (uint32_t)virtio_mmio_ops.read(d->t, off, 4); }
static void wr(drv *d, uint64_t off, uint32_t v) { virtio_mmio_ops.write(d->t, off, v, 4); }
static uint8_t *gp(drv *d, uint64_t pa) { return d->ram + (pa - RAM); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* Initialises the device as Linux does; features: what the driver accepts (low word). */
static void drv_init(drv *d, const virtio_device_ops *ops, void *dev, uint32_t features, int nq) {
  d->b = bus_new();
  d->ram = bus_add_ram(d->b, RAM, RAMSZ, "ram");
  d->t = virtio_mmio_new(d->b, ops, dev, on_irq, d, 0);
  d->vd = virtio_mmio_virtio(d->t);
  CHECK_EQ(rd(d, 0x000), 0x74726976);
  CHECK_EQ(rd(d, 0x004), 2);
  wr(d, 0x070, 0);
  wr(d, 0x070, 1);
  wr(d, 0x070, 3);
  wr(d, 0x014, 1);
  CHECK(rd(d, 0x010) & 1);                 /* VERSION_1 offered */
  wr(d, 0x024, 0);
  wr(d, 0x020, features);
  wr(d, 0x024, 1);
  wr(d, 0x020, 1);
  wr(d, 0x070, 3 | 8);
  CHECK(rd(d, 0x070) & 8);                 /* FEATURES_OK kept */
  for (int q = 0; q < nq; q++) {
    d->desc[q] = RAM + 0x1000 + 0x1000 * (uint64_t)q * 3;
    d->avail[q] = d->desc[q] + 0x1000;
    d->used[q] = d->desc[q] + 0x2000;
    wr(d, 0x030, (uint32_t)q);
    CHECK(rd(d, 0x034) >= QN);
    wr(d, 0x038, QN);
    wr(d, 0x080, (uint32_t)d->desc[q]); wr(d, 0x084, (uint32_t)(d->desc[q] >> 32));
    wr(d, 0x090, (uint32_t)d->avail[q]); wr(d, 0x094, (uint32_t)(d->avail[q] >> 32));
    wr(d, 0x0a0, (uint32_t)d->used[q]); wr(d, 0x0a4, (uint32_t)(d->used[q] >> 32));
    wr(d, 0x044, 1);
    CHECK_EQ(rd(d, 0x044), 1);
  }
  wr(d, 0x070, 3 | 8 | 4);
}

static void drv_fini(drv *d) {
  virtio_mmio_free(d->t);
  bus_free(d->b);
}

/* Writes descriptor i and, if head, makes it available. */
static void desc(drv *d, int q, int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
  uint8_t *p = gp(d, d->desc[q]) + 16 * i;
  put64(p, addr);
  put32(p + 8, len);
  put16(p + 12, flags);
  put16(p + 14, next);
}

static void offer(drv *d, int q, uint16_t head) {
  uint8_t *a = gp(d, d->avail[q]);
  put16(a + 4 + 2 * (d->avail_idx[q] % QN), head);
  d->avail_idx[q]++;
  put16(a + 2, d->avail_idx[q]);
}

static uint16_t used_idx(drv *d, int q) { return get16(gp(d, d->used[q]) + 2); }
static uint32_t used_len(drv *d, int q, int n) { return get32(gp(d, d->used[q]) + 4 + 8 * (n % QN) + 4); }

typedef struct sink { net_port port; int got; uint8_t last[2048]; size_t len; } sink;
static int sink_rx(net_port *p, net_frame *f) {
  sink *s = p->owner;
  s->got++;
  s->len = f->len < sizeof s->last ? f->len : sizeof s->last;
  memcpy(s->last, f->data, s->len);
  return 1;
}
static const net_port_ops sink_ops = {"sink", sink_rx};

static uint8_t frame[80] = {0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00};

TEST(virtio_net_receives_into_the_guest_ring) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  net_hub *h = net_hub_new(rt, "lan");
  static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
  vnet *n = vnet_new(mac, "nic");
  drv d = {0};
  drv_init(&d, &vnet_ops, n, (1u << 5) | (1u << 16), 2);
  vnet_bind(n, d.vd);
  net_port_attach(vnet_port(n), h);
  sink s = {0};
  net_port_init(&s.port, &sink_ops, &s, "sink");
  net_port_attach(&s.port, h);
  CHECK_EQ(virtio_mmio_ops.read(d.t, 0x100 + 5, 1), 0x56);
  CHECK_EQ(virtio_mmio_ops.read(d.t, 0x100 + 6, 2), 1);   /* link up */

  /* No buffers yet: the frame waits at the port instead of being dropped. */
  net_port_send(&s.port, frame, sizeof frame);
  CHECK_EQ(vnet_port(n)->qlen, 1);
  CHECK_EQ(used_idx(&d, 0), 0);
  /* Offer a buffer and notify: the queued frame arrives with a 12-byte header. */
  desc(&d, 0, 0, RAM + 0x10000, 2048, 2, 0);
  offer(&d, 0, 0);
  wr(&d, 0x050, 0);
  CHECK_EQ(used_idx(&d, 0), 1);
  CHECK_EQ(used_len(&d, 0, 0), 12 + sizeof frame);
  CHECK(memcmp(gp(&d, RAM + 0x10000 + 12), frame, sizeof frame) == 0);
  CHECK_EQ(get16(gp(&d, RAM + 0x10000 + 10)), 1);   /* num_buffers */
  CHECK_EQ(d.irq, 1);
  CHECK_EQ(rd(&d, 0x060), 1);
  wr(&d, 0x064, 1);
  CHECK_EQ(d.irq, 0);
  CHECK_EQ(vnet_port(n)->qlen, 0);

  /* Link down: frames are not delivered; the driver sees a config change. */
  vnet_set_link(n, 0);
  CHECK_EQ(virtio_mmio_ops.read(d.t, 0x100 + 6, 2), 0);
  CHECK_EQ(rd(&d, 0x060) & 2, 2);
  net_port_detach(&s.port);
  net_port_detach(vnet_port(n));
  vnet_free(n);
  drv_fini(&d);
  lemu_rt_free(rt);
}

TEST(virtio_net_merges_buffers_for_a_large_frame) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  net_hub *h = net_hub_new(rt, "lan");
  static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x57};
  vnet *n = vnet_new(mac, "nic");
  drv d = {0};
  drv_init(&d, &vnet_ops, n, (1u << 5) | (1u << 15), 2);
  vnet_bind(n, d.vd);
  net_port_attach(vnet_port(n), h);
  sink s = {0};
  net_port_init(&s.port, &sink_ops, &s, "sink");
  net_port_attach(&s.port, h);
  for (int i = 0; i < 3; i++) {
    desc(&d, 0, i, RAM + 0x10000 + 0x1000 * (uint64_t)i, 600, 2, 0);
    offer(&d, 0, (uint16_t)i);
  }
  static uint8_t big[1514];
  memcpy(big, frame, 14);
  for (size_t i = 14; i < sizeof big; i++) big[i] = (uint8_t)i;
  net_port_send(&s.port, big, sizeof big);
  CHECK_EQ(used_idx(&d, 0), 3);
  CHECK_EQ(get16(gp(&d, RAM + 0x10000 + 10)), 3);
  CHECK_EQ(used_len(&d, 0, 0) + used_len(&d, 0, 1) + used_len(&d, 0, 2), 12 + sizeof big);
  CHECK(memcmp(gp(&d, RAM + 0x10000 + 12), big, 588) == 0);
  CHECK(memcmp(gp(&d, RAM + 0x11000), big + 588, 600) == 0);
  CHECK(memcmp(gp(&d, RAM + 0x12000), big + 1188, sizeof big - 1188) == 0);
  /* Two buffers left short for another big frame: none is consumed, the frame waits. */
  desc(&d, 0, 3, RAM + 0x13000, 600, 2, 0);
  offer(&d, 0, 3);
  net_port_send(&s.port, big, sizeof big);
  CHECK_EQ(used_idx(&d, 0), 3);
  CHECK_EQ(vnet_port(n)->qlen, 1);
  net_port_detach(&s.port);
  net_port_detach(vnet_port(n));
  vnet_free(n);
  drv_fini(&d);
  lemu_rt_free(rt);
}

TEST(virtio_net_transmits_and_completes_checksums) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  net_hub *h = net_hub_new(rt, "lan");
  static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x58};
  vnet *n = vnet_new(mac, "nic");
  drv d = {0};
  drv_init(&d, &vnet_ops, n, 1u | (1u << 5), 2);
  vnet_bind(n, d.vd);
  net_port_attach(vnet_port(n), h);
  sink s = {0};
  net_port_init(&s.port, &sink_ops, &s, "sink");
  net_port_attach(&s.port, h);
  /* A UDP/IPv4 frame: 10.0.2.15:1000 -> 10.0.2.2:2000, payload "hello!", checksum left to us
   * with the pseudo-header sum stored in place, as Linux does. */
  uint8_t pkt[14 + 20 + 8 + 6] = {0};
  memcpy(pkt, frame, 14);
  uint8_t *ip = pkt + 14, *udp = ip + 20;
  ip[0] = 0x45; ip[3] = 34; ip[8] = 64; ip[9] = 17;
  ip[12] = 10; ip[14] = 2; ip[15] = 15; ip[16] = 10; ip[18] = 2; ip[19] = 2;
  udp[0] = 0x03; udp[1] = 0xe8; udp[2] = 0x07; udp[3] = 0xd0; udp[5] = 14;
  memcpy(udp + 8, "hello!", 6);
  /* pseudo-header: src + dst + proto + udp length, folded, not inverted */
  uint32_t ph = 0x0a00 + 0x020f + 0x0a00 + 0x0202 + 17 + 14;
  udp[6] = (uint8_t)(ph >> 8); udp[7] = (uint8_t)ph;
  uint8_t hdr[12] = {1, 0, 0, 0, 0, 0, 34, 0, 6, 0, 0, 0};   /* NEEDS_CSUM, start 34, offset 6 */
  memcpy(gp(&d, RAM + 0x20000), hdr, 12);
  memcpy(gp(&d, RAM + 0x20100), pkt, sizeof pkt);
  desc(&d, 1, 0, RAM + 0x20000, 12, 1, 1);
  desc(&d, 1, 1, RAM + 0x20100, sizeof pkt, 0, 0);
  offer(&d, 1, 0);
  wr(&d, 0x050, 1);
  CHECK_EQ(s.got, 1);
  CHECK_EQ(s.len, sizeof pkt);
  /* Checksum over pseudo-header + UDP header + data, computed independently here. */
  uint32_t sum = ph;
  const uint8_t *u = s.last + 34;
  for (int i = 0; i < 14; i += 2) if (i != 6) sum += (uint32_t)(u[i] << 8 | u[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  CHECK_EQ((u[6] << 8 | u[7]), (uint16_t)~sum);
  CHECK_EQ(used_idx(&d, 1), 1);
  CHECK_EQ(vnet_port(n)->tx.frames, 1);
  net_port_detach(&s.port);
  net_port_detach(vnet_port(n));
  vnet_free(n);
  drv_fini(&d);
  lemu_rt_free(rt);
}

TEST(virtio_bad_guest_addresses_break_the_device_safely) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  net_hub *h = net_hub_new(rt, "lan");
  static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x59};
  vnet *n = vnet_new(mac, "nic");
  drv d = {0};
  drv_init(&d, &vnet_ops, n, 1u << 5, 2);
  vnet_bind(n, d.vd);
  net_port_attach(vnet_port(n), h);
  /* A transmit buffer that runs past the end of RAM. */
  desc(&d, 1, 0, RAM + RAMSZ - 16, 64, 0, 0);
  offer(&d, 1, 0);
  wr(&d, 0x050, 1);
  CHECK(rd(&d, 0x070) & 0x40);            /* DEVICE_NEEDS_RESET */
  CHECK_EQ(vnet_port(n)->tx.frames, 0);
  /* A reset brings it back; a chain that loops is refused the same way. */
  wr(&d, 0x070, 0);
  CHECK_EQ(rd(&d, 0x070), 0);
  drv_fini(&d);
  drv d2 = {0};
  drv_init(&d2, &vnet_ops, n, 1u << 5, 2);
  vnet_bind(n, d2.vd);
  desc(&d2, 1, 0, RAM + 0x20000, 64, 1, 1);
  desc(&d2, 1, 1, RAM + 0x20000, 64, 1, 0);
  offer(&d2, 1, 0);
  wr(&d2, 0x050, 1);
  CHECK(rd(&d2, 0x070) & 0x40);
  /* Rings placed outside RAM never become ready. */
  wr(&d2, 0x070, 0);
  wr(&d2, 0x030, 0);
  wr(&d2, 0x038, QN);
  wr(&d2, 0x080, 0x1000);
  wr(&d2, 0x044, 1);
  CHECK_EQ(rd(&d2, 0x044), 0);
  net_port_detach(vnet_port(n));
  vnet_free(n);
  drv_fini(&d2);
  lemu_rt_free(rt);
}

TEST(virtio_rng_fills_buffers) {
  drv d = {0};
  drv_init(&d, &vrng_ops, NULL, 0, 1);
  memset(gp(&d, RAM + 0x30000), 0, 64);
  desc(&d, 0, 0, RAM + 0x30000, 64, 2, 0);
  offer(&d, 0, 0);
  wr(&d, 0x050, 0);
  CHECK_EQ(used_idx(&d, 0), 1);
  CHECK_EQ(used_len(&d, 0, 0), 64);
  int nonzero = 0;
  for (int i = 0; i < 64; i++) nonzero += gp(&d, RAM + 0x30000)[i] != 0;
  CHECK(nonzero > 32);
  drv_fini(&d);
}

TEST(virtio_blk_reads_writes_and_checks_bounds) {
  char path[] = "/tmp/lemu-blk-XXXXXX";
  int fd = mkstemp(path);
  static uint8_t img[4096];
  for (size_t i = 0; i < sizeof img; i++) img[i] = (uint8_t)(i / 512 + 1);
  CHECK(write(fd, img, sizeof img) == (ssize_t)sizeof img);
  close(fd);
  char err[256];
  vblk *b = vblk_open(path, 0, err, sizeof err);
  CHECK(b != NULL);
  CHECK_EQ(vblk_sectors(b), 8);
  drv d = {0};
  drv_init(&d, &vblk_ops, b, 0, 1);
  CHECK_EQ(virtio_mmio_ops.read(d.t, 0x100, 4), 8);        /* capacity */
  /* Read sector 2. */
  uint8_t req[16] = {0};
  req[8] = 2;
  memcpy(gp(&d, RAM + 0x40000), req, 16);
  desc(&d, 0, 0, RAM + 0x40000, 16, 1, 1);
  desc(&d, 0, 1, RAM + 0x41000, 512, 1 | 2, 2);
  desc(&d, 0, 2, RAM + 0x42000, 1, 2, 0);
  offer(&d, 0, 0);
  wr(&d, 0x050, 0);
  CHECK_EQ(gp(&d, RAM + 0x42000)[0], 0);
  CHECK_EQ(gp(&d, RAM + 0x41000)[0], 3);
  CHECK_EQ(used_len(&d, 0, 0), 513);
  /* Write sector 7, then a read past the end fails with IOERR. */
  req[0] = 1; req[8] = 7;
  memcpy(gp(&d, RAM + 0x40000), req, 16);
  memset(gp(&d, RAM + 0x41000), 0xab, 512);
  desc(&d, 0, 0, RAM + 0x40000, 16, 1, 1);
  desc(&d, 0, 1, RAM + 0x41000, 512, 1, 2);
  offer(&d, 0, 0);
  wr(&d, 0x050, 0);
  CHECK_EQ(gp(&d, RAM + 0x42000)[0], 0);
  req[0] = 0; req[8] = 8;
  memcpy(gp(&d, RAM + 0x40000), req, 16);
  desc(&d, 0, 1, RAM + 0x41000, 512, 1 | 2, 2);
  offer(&d, 0, 0);
  wr(&d, 0x050, 0);
  CHECK_EQ(gp(&d, RAM + 0x42000)[0], 1);
  drv_fini(&d);
  vblk_close(b);
  FILE *f = fopen(path, "rb");
  CHECK(f && fseek(f, 7 * 512, SEEK_SET) == 0 && fgetc(f) == 0xab);
  if (f) fclose(f);
  unlink(path);
  CHECK(vblk_open("/nonexistent/disk.img", 0, err, sizeof err) == NULL);
  CHECK(strstr(err, "/nonexistent/disk.img") != NULL);
}

/* Found by the virtio_mmio fuzz target: a hart's 8-byte access to virtio-net's config reached the
 * model as one access of size 8 (a 32-bit shift by 32). It arrives as two 4-byte accesses now, low
 * word first, as QEMU splits it; so does one to the registers (both halves of a ring address). */
TEST(virtio_mmio_eight_byte_access_reaches_the_device_as_two_words) {
  static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
  vnet *n = vnet_new(mac, "nic");
  drv d = {0};
  drv_init(&d, &vnet_ops, n, (1u << 5) | (1u << 16), 2);
  vnet_bind(n, d.vd);
  uint64_t both = virtio_mmio_ops.read(d.t, 0x100, 8);
  CHECK_EQ(both & 0xffffffffu, 0x12005452u);
  CHECK_EQ(both >> 32, 0x00015634u);                      /* the MAC's end, link up */
  virtio_mmio_ops.write(d.t, 0x100, 0xffff665544332211ull, 8);
  CHECK_EQ(virtio_mmio_ops.read(d.t, 0x100, 4), 0x44332211u);
  CHECK_EQ(virtio_mmio_ops.read(d.t, 0x104, 2), 0x6655u);   /* the MAC only: bytes 6, 7 read-only */
  CHECK_EQ(virtio_mmio_ops.read(d.t, 0x000, 8), 0x0000000274726976ull);   /* magic, version */
  wr(&d, 0x070, 0);
  wr(&d, 0x030, 0);
  virtio_mmio_ops.write(d.t, 0x080, 0x0000000180002000ull, 8);
  CHECK_EQ(virtio_queue_addr(d.vd, 0, VQ_DESC), 0x0000000180002000ull);
  drv_fini(&d);
  vnet_free(n);
}

/* Found by the virtio_mmio fuzz target's long run: each "guest driver error" went to stderr, so a
 * guest that breaks and resets its device in a loop wrote without bound (1.9 GB of log in nine
 * minutes). The warnings are rate-limited per device now: a burst of five, then one count. */
TEST(virtio_guest_errors_in_a_loop_do_not_flood_stderr) {
  char path[] = "/tmp/lemu-ctest-log-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  fflush(stderr);
  int saved = dup(2);
  dup2(fd, 2);
  drv d = {0};
  drv_init(&d, &vrng_ops, NULL, 0, 1);
  for (int i = 0; i < 1000; i++) {
    wr(&d, 0x070, 0);                        /* the driver resets the device and goes again */
    wr(&d, 0x030, 0);
    wr(&d, 0x038, 3);                        /* not a power of two: the device breaks */
    wr(&d, 0x044, 1);
    CHECK(rd(&d, 0x044) == 0);               /* refused, every time */
  }
  drv_fini(&d);                              /* the count is printed when the device goes */
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  FILE *f = fdopen(fd, "r");
  rewind(f);
  char line[512];
  int lines = 0, counted = 0;
  while (fgets(line, sizeof line, f)) {
    lines++;
    if (strstr(line, "995 more like this")) counted = 1;
  }
  fclose(f);
  unlink(path);
  CHECK(lines <= 7);
  CHECK(counted);
}
