/* test_pcap: pcap files have the classic header and one record per frame with wall-clock
 * timestamps and snaplen applied; taps are told when the port or hub they watch goes away. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctest.h"
#include "pcap.h"
#include "port.h"
#include "rt.h"

TEST(pcap_header_and_records) {
  char path[] = "/tmp/lemu-ctest-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  char err[256];
  uint64_t rt_now = 5000000000ull;                   /* runtime at 5 s */
  int64_t wall = 1700000000ll * 1000000000ll;          /* the wall clock then */
  int64_t off = wall - (int64_t)rt_now;
  net_pcap *pc = net_pcap_open(path, 20, off, err, sizeof err);
  CHECK(pc != NULL);
  uint8_t data[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x08, 0x06};
  net_frame *f = frame_new(data, sizeof data, rt_now + 1500000);  /* 1.5 ms later */
  CHECK_EQ(net_pcap_write(pc, f), 0);
  CHECK_EQ(net_pcap_frames(pc), 1);
  CHECK_EQ(net_pcap_close(pc), 0);
  frame_unref(f);

  FILE *in = fopen(path, "rb");
  uint32_t h[6], r[4];
  uint16_t ver[2];
  CHECK(fread(h, 4, 1, in) == 1);
  CHECK(fread(ver, 2, 2, in) == 2);
  CHECK(fread(&h[1], 4, 4, in) == 4);
  CHECK_EQ(h[0], 0xa1b2c3d4);
  CHECK_EQ(ver[0], 2);
  CHECK_EQ(ver[1], 4);
  CHECK_EQ(h[3], 20);          /* snaplen */
  CHECK_EQ(h[4], 1);           /* Ethernet */
  CHECK(fread(r, 4, 4, in) == 4);
  CHECK_EQ(r[0], 1700000000u);  /* seconds and microseconds of wall + 1.5 ms */
  CHECK_EQ(r[1], 1500u);
  CHECK_EQ(r[2], 20);          /* captured */
  CHECK_EQ(r[3], 60);          /* on the wire */
  uint8_t got[20];
  CHECK(fread(got, 1, 20, in) == 20);
  CHECK(memcmp(got, data, 20) == 0);
  CHECK(fgetc(in) == EOF);
  fclose(in);
  unlink(path);
}

TEST(pcap_open_failure_names_the_file) {
  char err[256];
  CHECK(net_pcap_open("/nonexistent-dir/x.pcap", 0, 0, err, sizeof err) == NULL);
  CHECK(strstr(err, "cannot create '/nonexistent-dir/x.pcap'") != NULL);
}

typedef struct watch { net_tap tap; int frames, gone; } watch;
static void w_fn(net_tap *t, const net_frame *f, int dir) { (void)f; (void)dir; ((watch *)t)->frames++; }
static void w_gone(net_tap *t) { ((watch *)t)->gone++; }
static int take(net_port *p, net_frame *f) { (void)p; (void)f; return 1; }
static const net_port_ops ops = {"test", take};

TEST(taps_are_told_when_their_port_or_hub_goes) {
  const char *e;
  lemu_rt *rt = lemu_rt_new(&e);
  net_hub *h = net_hub_new(rt, "lan");
  net_port a, b;
  net_port_init(&a, &ops, NULL, "a");
  net_port_init(&b, &ops, NULL, "b");
  net_port_attach(&a, h);
  net_port_attach(&b, h);
  watch pw = {{w_fn, w_gone, NULL}, 0, 0}, hw = {{w_fn, w_gone, NULL}, 0, 0};
  net_port_add_tap(&b, &pw.tap);
  net_hub_add_tap(h, &hw.tap);
  uint8_t fr[14] = {0};
  net_port_send(&a, fr, sizeof fr);
  net_port_send(&b, fr, sizeof fr);
  CHECK_EQ(pw.frames, 2);      /* b's port: one in, one out */
  CHECK_EQ(hw.frames, 2);
  net_port_detach(&b);
  CHECK_EQ(pw.gone, 1);
  CHECK(b.taps == NULL);
  net_port_send(&a, fr, sizeof fr);
  CHECK_EQ(pw.frames, 2);
  lemu_rt_free(rt);            /* closes the hub: its tap is told */
  CHECK_EQ(hw.gone, 1);
  CHECK_EQ(hw.frames, 3);
}
