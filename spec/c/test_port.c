/* test_port: hubs flood to every other port, share one copy, queue for busy ports within a bound,
 * and lose nothing owed to others when a port leaves. */
#include <string.h>

#include "ctest.h"
#include "nic.h"
#include "port.h"
#include "rt.h"

typedef struct sink {
  net_port port;
  int accept;         /* 0: refuse (busy) */
  int got;
  net_frame *last;
  net_port *detach_on_receive;
  uint8_t order[64], seq[64];   /* bytes 21 and 20 of the frames taken */
  int norder;
} sink;

static int sink_receive(net_port *p, net_frame *f) {
  sink *s = p->owner;
  if (!s->accept) return 0;
  s->got++;
  if (s->last) frame_unref(s->last);
  s->last = frame_ref(f);
  if (s->norder < 64 && f->len > 21) {
    s->order[s->norder] = f->data[21];
    s->seq[s->norder++] = f->data[20];
  }
  if (s->detach_on_receive) net_port_detach(s->detach_on_receive);
  return 1;
}

static const net_port_ops sink_ops = {"test", sink_receive};

static void sink_init(sink *s, net_hub *h) {
  memset(s, 0, sizeof *s);
  net_port_init(&s->port, &sink_ops, s, "sink");
  s->accept = 1;
  net_port_attach(&s->port, h);
}

static void sink_fini(sink *s) {
  net_port_detach(&s->port);
  if (s->last) frame_unref(s->last);
}

static uint8_t frame60[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x08, 0x00};

TEST(hub_floods_to_others_with_one_shared_copy) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  net_hub *h = net_hub_new(rt, "lan");
  sink a, b, c;
  sink_init(&a, h); sink_init(&b, h); sink_init(&c, h);
  CHECK_EQ(net_port_send(&a.port, frame60, sizeof frame60), 0);
  CHECK_EQ(a.got, 0);
  CHECK_EQ(b.got, 1);
  CHECK_EQ(c.got, 1);
  CHECK(b.last == c.last);          /* the same frame, not a copy per port */
  CHECK_EQ(b.last->refs, 2);
  CHECK_EQ(a.port.tx.frames, 1);
  CHECK_EQ(b.port.rx.bytes, 60);
  CHECK_EQ(net_hub_frames(h), 1);
  sink_fini(&a); sink_fini(&b); sink_fini(&c);
  lemu_rt_free(rt);
}

TEST(bad_lengths_are_refused_and_counted) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  net_hub *h = net_hub_new(rt, "lan");
  sink a, b;
  sink_init(&a, h); sink_init(&b, h);
  static uint8_t big[NET_FRAME_MAX + 1];
  CHECK_EQ(net_port_send(&a.port, frame60, 13), -1);
  CHECK_EQ(net_port_send(&a.port, big, sizeof big), -1);
  CHECK_EQ(net_port_send(&a.port, big, NET_FRAME_MAX), 0);
  CHECK_EQ(a.port.tx.drops, 2);
  CHECK_EQ(b.got, 1);
  sink_fini(&a); sink_fini(&b);
  lemu_rt_free(rt);
}

TEST(busy_port_queues_in_order_then_drops_past_its_bound) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  net_hub *h = net_hub_new(rt, "lan");
  sink a, b, c;
  sink_init(&a, h); sink_init(&b, h); sink_init(&c, h);
  b.accept = 0;
  net_port_set_queue_limit(&b.port, 3);
  for (int i = 0; i < 5; i++) {
    frame60[20] = (uint8_t)i;
    net_port_send(&a.port, frame60, sizeof frame60);
  }
  CHECK_EQ(c.got, 5);               /* a busy port does not hold up the others */
  CHECK_EQ(b.got, 0);
  CHECK_EQ(b.port.qlen, 3);
  CHECK_EQ(b.port.rx.drops, 2);
  b.accept = 1;
  net_port_ready(&b.port);
  CHECK_EQ(b.got, 3);
  CHECK_EQ(b.last->data[20], 2);    /* the oldest three, in order */
  sink_fini(&a); sink_fini(&b); sink_fini(&c);
  lemu_rt_free(rt);
}

/* A busy port's queue is fair between sources: a flooder that fills it cannot push out, or hold
 * up by more than one frame per turn, a frame from another port. */
TEST(busy_port_queue_is_fair_between_sources) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  net_hub *h = net_hub_new(rt, "lan");
  sink flood, other, b;
  sink_init(&flood, h); sink_init(&other, h); sink_init(&b, h);
  b.accept = 0;
  net_port_set_queue_limit(&b.port, 8);
  frame60[21] = 1;
  for (int i = 0; i < 20; i++) {
    frame60[20] = (uint8_t)i;
    net_port_send(&flood.port, frame60, sizeof frame60);
  }
  CHECK_EQ(b.port.qlen, 8);
  CHECK_EQ(b.port.rx.drops, 12);     /* the flood's own newest frames */
  frame60[21] = 2;
  frame60[20] = 100;
  net_port_send(&other.port, frame60, sizeof frame60);
  CHECK_EQ(b.port.qlen, 8);          /* taken: the flood's newest made room */
  CHECK_EQ(b.port.rx.drops, 13);
  b.accept = 1;
  net_port_ready(&b.port);
  CHECK_EQ(b.got, 8);
  CHECK_EQ(b.port.qlen, 0);
  CHECK_EQ(b.norder, 8);
  CHECK_EQ(b.order[0], 1);           /* the flood's oldest, then the other port's, then the flood's */
  CHECK_EQ(b.order[1], 2);
  for (int i = 2; i < 8; i++) CHECK_EQ(b.order[i], 1);
  CHECK_EQ(b.seq[0], 0);             /* the flood's frames in their order: 0..6 */
  CHECK_EQ(b.seq[1], 100);
  CHECK_EQ(b.seq[7], 6);
  frame60[20] = frame60[21] = 0;
  sink_fini(&flood); sink_fini(&other); sink_fini(&b);
  lemu_rt_free(rt);
}

TEST(detaching_with_frames_queued_loses_nothing_owed_to_others) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  net_hub *h = net_hub_new(rt, "lan");
  sink a, b, c, d;
  sink_init(&a, h); sink_init(&b, h); sink_init(&c, h); sink_init(&d, h);
  b.accept = 0;
  c.accept = 0;
  net_port_send(&a.port, frame60, sizeof frame60);
  net_port_detach(&b.port);         /* drops its own queued copy only */
  c.accept = 1;
  net_port_ready(&c.port);
  CHECK_EQ(c.got, 1);
  CHECK_EQ(c.last->refs, 2);        /* held by c and d: b's reference was released */
  /* A receiver that detaches another port mid-flood: the flood goes on safely. */
  c.detach_on_receive = &d.port;
  int before = d.got;
  net_port_send(&a.port, frame60, sizeof frame60);
  CHECK(d.got == before || d.got == before + 1);
  CHECK(d.port.hub == NULL);
  sink_fini(&a); sink_fini(&b); sink_fini(&c); sink_fini(&d);
  lemu_rt_free(rt);
}

TEST(link_down_neither_sends_nor_receives) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  net_hub *h = net_hub_new(rt, "lan");
  sink a, b;
  sink_init(&a, h); sink_init(&b, h);
  net_port_set_link(&b.port, 0);
  net_port_send(&a.port, frame60, sizeof frame60);
  CHECK_EQ(b.got, 0);
  CHECK_EQ(net_port_send(&b.port, frame60, sizeof frame60), -1);
  net_port_set_link(&b.port, 1);
  net_port_send(&a.port, frame60, sizeof frame60);
  CHECK_EQ(b.got, 1);
  sink_fini(&a); sink_fini(&b);
  lemu_rt_free(rt);
}

/* While the netstack is held (a machine's slice), sends wait in order and reach the hub at the
 * last release; a port that left meanwhile sends nothing, and a frame sent during the release by
 * a receiver goes out at once. */
TEST(held_sends_are_delivered_in_order_at_release) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  net_hub *h = net_hub_new(rt, "lan");
  sink a, b, c;
  sink_init(&a, h); sink_init(&b, h); sink_init(&c, h);
  uint8_t f1[60], f2[60];
  memcpy(f1, frame60, 60); memcpy(f2, frame60, 60);
  f1[59] = 1; f2[59] = 2;
  net_hold();
  net_hold();                                  /* holds nest */
  CHECK_EQ(net_port_send(&a.port, f1, sizeof f1), 0);
  CHECK_EQ(net_port_send(&a.port, f2, sizeof f2), 0);
  CHECK_EQ(net_port_send(&c.port, f1, sizeof f1), 0);
  net_port_detach(&c.port);                    /* left before the release: its frame is gone */
  CHECK_EQ(b.got, 0);
  net_release();
  CHECK_EQ(b.got, 0);
  net_release();
  CHECK_EQ(b.got, 2);
  CHECK_EQ(b.last->data[59], 2);               /* f2 came last */
  CHECK_EQ(a.port.tx.frames, 2);
  CHECK_EQ(c.port.tx.frames, 0);
  CHECK_EQ(net_hub_frames(h), 2);
  net_release();                               /* an unmatched release is harmless */
  CHECK_EQ(net_port_send(&a.port, f1, sizeof f1), 0);
  CHECK_EQ(b.got, 3);                          /* nothing held: straight through */
  sink_fini(&a); sink_fini(&b); sink_fini(&c);
  lemu_rt_free(rt);
}

/* A device that sends without end while held (a hostile guest's ring) loses frames past the
 * bound, counted at its port, and what was held still arrives at the release. */
TEST(held_sends_past_the_bound_are_dropped_and_counted) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  net_hub *h = net_hub_new(rt, "lan");
  sink a, b;
  sink_init(&a, h); sink_init(&b, h);
  net_hold();
  int refused = 0;
  for (int i = 0; i < 70000; i++) refused += net_port_send(&a.port, frame60, sizeof frame60) < 0;
  CHECK_EQ(refused, 70000 - 65536);
  CHECK_EQ(a.port.tx.drops, 70000 - 65536);
  net_release();
  CHECK_EQ(b.got, 65536);
  sink_fini(&a); sink_fini(&b);
  lemu_rt_free(rt);
}

/* The NIC base: a link change reaches the port (no frames either way while down) and the model's
 * hook once per change, whoever makes it. */
static int link_changes;
static void count_link(nic *n) { (void)n; link_changes++; }

TEST(nic_base_link_reaches_port_and_model) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  net_hub *h = net_hub_new(rt, "lan");
  sink s;
  sink_init(&s, h);
  static const uint8_t mac[6] = {0x52, 0x54, 0, 0xaa, 0xbb, 1};
  nic n;
  nic_init(&n, &sink_ops, &s, mac, "web.eth0", count_link);
  net_port_attach(&n.port, h);
  CHECK(strcmp(n.port.name, "web.eth0") == 0);
  CHECK_EQ(n.mac[5], 1);
  CHECK_EQ(n.link_up, 1);
  nic_set_link(&n, 0);
  nic_set_link(&n, 0);                      /* no change: no second call */
  CHECK_EQ(link_changes, 1);
  CHECK_EQ(net_port_send(&n.port, frame60, sizeof frame60), -1);
  CHECK_EQ(s.got, 0);
  nic_set_link(&n, 1);
  CHECK_EQ(link_changes, 2);
  CHECK_EQ(net_port_send(&n.port, frame60, sizeof frame60), 0);
  CHECK_EQ(s.got, 1);
  net_port_detach(&n.port);
  sink_fini(&s);
  lemu_rt_free(rt);
}
