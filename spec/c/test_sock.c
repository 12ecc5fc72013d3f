/* test_sock: socket backends carry frames between two VLANs over real sockets (TCP, unix, UDP,
 * multicast), on QEMU's framing; a garbage peer is dropped without hurting the others. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctest.h"
#include "port.h"
#include "rt.h"
#include "sock.h"

typedef struct sink {
  net_port port;
  int got;
  uint8_t last[64];
  size_t lastlen;
} sink;

static int sink_receive(net_port *p, net_frame *f) {
  sink *s = p->owner;
  s->got++;
  s->lastlen = f->len < sizeof s->last ? f->len : sizeof s->last;
  memcpy(s->last, f->data, s->lastlen);
  return 1;
}

static const net_port_ops sink_ops = {"test", sink_receive};

static void sink_init(sink *s, net_hub *h) {
  memset(s, 0, sizeof *s);
  net_port_init(&s->port, &sink_ops, s, "sink");
  net_port_attach(&s->port, h);
}

static uint8_t frame60[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x08, 0x00, 'h', 'i'};

typedef struct waitc { int *v; int want; int timed_out; } waitc;
static int reached(void *ud) { waitc *w = ud; return *w->v >= w->want || w->timed_out; }
static void on_timeout(lemu_timer *t, void *ud) { (void)t; ((waitc *)ud)->timed_out = 1; }

/* Runs the loop until *v >= want or ms pass; returns 1 if reached. */
static int run_until(lemu_rt *rt, int *v, int want, int ms) {
  waitc w = {v, want, 0};
  lemu_timer *t = lemu_timer_new(rt, on_timeout, &w);
  lemu_timer_start(t, (uint64_t)ms, 0);
  lemu_rt_run(rt, reached, &w);
  lemu_timer_close(t);
  return *v >= want;
}

static int events;
static void count_event(net_sock *s, const char *ev, const char *addr, const char *reason, void *ud) {
  (void)s; (void)addr; (void)reason; (void)ud;
  if (strcmp(ev, "connected") == 0) events++;
}

static void stream_pair(const char *listen_addr) {
  const char *e;
  char err[256];
  lemu_rt *rt = lemu_rt_new(&e);
  net_hub *ha = net_hub_new(rt, "a"), *hb = net_hub_new(rt, "b");
  sink a, b;
  sink_init(&a, ha);
  sink_init(&b, hb);
  net_sock_config lc = {.mode = NET_SOCK_LISTEN, .addr = listen_addr};
  net_sock *l = net_sock_open(rt, ha, &lc, err, sizeof err);
  CHECK(l != NULL);
  if (!l) { printf("# %s\n", err); lemu_rt_free(rt); return; }
  events = 0;
  net_sock_on_event(l, count_event, NULL);
  net_sock_config cc = {.mode = NET_SOCK_CONNECT, .addr = net_sock_local(l)};
  net_sock *c = net_sock_open(rt, hb, &cc, err, sizeof err);
  CHECK(c != NULL);
  net_sock_on_event(c, count_event, NULL);
  CHECK(run_until(rt, &events, 2, 2000));
  CHECK_EQ(net_sock_npeers(l), 1);
  net_port_send(&a.port, frame60, sizeof frame60);
  CHECK(run_until(rt, &b.got, 1, 2000));
  CHECK_EQ(b.lastlen, 60);
  CHECK(memcmp(b.last, frame60, 60) == 0);
  frame60[15] = 'o';
  net_port_send(&b.port, frame60, sizeof frame60);
  CHECK(run_until(rt, &a.got, 1, 2000));
  CHECK_EQ(a.last[15], 'o');
  net_sock_peerinfo pi;
  CHECK_EQ(net_sock_peer(c, 0, &pi), 0);
  CHECK_EQ(pi.stats->to_peer.frames, 1);
  CHECK_EQ(pi.stats->from_peer.frames, 1);
  CHECK_EQ(pi.stats->to_peer.bytes, 60);
  net_port_detach(&a.port);
  net_port_detach(&b.port);
  lemu_rt_free(rt);
}

TEST(tcp_listen_connect_carries_frames_both_ways) { stream_pair("127.0.0.1:0"); }

TEST(unix_stream_carries_frames_both_ways) {
  char path[64];
  snprintf(path, sizeof path, "unix:/tmp/lemu-ctest-%d.sock", (int)getpid());
  stream_pair(path);
  CHECK(access(path + 5, F_OK) != 0);   /* the listener removes its socket file */
}

/* A raw client that writes bytes and reads nothing. */
typedef struct rawc { uv_tcp_t tcp; uv_connect_t req; uv_write_t w; int done; int closed; const uint8_t *buf; size_t len; } rawc;
static void raw_written(uv_write_t *w, int st) { (void)st; ((rawc *)w->data)->done = 1; }
static void raw_connected(uv_connect_t *r, int st) {
  rawc *c = r->data;
  if (st) { c->done = -1; return; }
  uv_buf_t b = uv_buf_init((char *)c->buf, (unsigned)c->len);
  c->w.data = c;
  uv_write(&c->w, (uv_stream_t *)&c->tcp, &b, 1, raw_written);
}
static void raw_closed(uv_handle_t *h) { ((rawc *)h->data)->closed = 1; }

static int drops;
static char drop_reason[160];
static void note_drop(net_sock *s, const char *ev, const char *addr, const char *reason, void *ud) {
  (void)s; (void)addr; (void)ud;
  if (strcmp(ev, "connected") == 0) events++;
  if (strcmp(ev, "dropped") == 0) { drops++; snprintf(drop_reason, sizeof drop_reason, "%s", reason); }
}

TEST(garbage_length_drops_that_peer_only) {
  const char *e;
  char err[256];
  lemu_rt *rt = lemu_rt_new(&e);
  net_hub *ha = net_hub_new(rt, "a"), *hb = net_hub_new(rt, "b");
  sink a, b;
  sink_init(&a, ha);
  sink_init(&b, hb);
  net_sock_config lc = {.mode = NET_SOCK_LISTEN, .addr = ":0"};
  net_sock *l = net_sock_open(rt, ha, &lc, err, sizeof err);
  CHECK(l != NULL);
  CHECK(strncmp(net_sock_local(l), "127.0.0.1:", 10) == 0);   /* empty host: loopback */
  events = drops = 0;
  net_sock_on_event(l, note_drop, NULL);
  net_sock_config cc = {.mode = NET_SOCK_CONNECT, .addr = net_sock_local(l)};
  net_sock_open(rt, hb, &cc, err, sizeof err);
  CHECK(run_until(rt, &events, 1, 2000));
  static const uint8_t bad[8] = {0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4};
  rawc raw = {.buf = bad, .len = sizeof bad};
  uv_tcp_init(rt_loop(rt), &raw.tcp);
  raw.tcp.data = &raw;
  raw.req.data = &raw;
  struct sockaddr_storage ss;
  unsigned sl;
  net_sock_parse_addr(net_sock_local(l), &ss, &sl, err, sizeof err);
  uv_tcp_connect(&raw.req, &raw.tcp, (struct sockaddr *)&ss, raw_connected);
  CHECK(run_until(rt, &drops, 1, 2000));
  CHECK(strstr(drop_reason, "2147483647") != NULL);
  CHECK_EQ(net_sock_npeers(l), 1);          /* the good peer stays */
  CHECK_EQ(net_sock_dropped(l), 1);
  for (int i = 0; i < 3; i++) net_port_send(&b.port, frame60, sizeof frame60);
  CHECK(run_until(rt, &a.got, 3, 2000));
  uv_close((uv_handle_t *)&raw.tcp, raw_closed);
  run_until(rt, &raw.closed, 1, 1000);
  net_port_detach(&a.port);
  net_port_detach(&b.port);
  lemu_rt_free(rt);
}

TEST(listener_takes_several_peers_each_a_port) {
  const char *e;
  char err[256];
  lemu_rt *rt = lemu_rt_new(&e);
  net_hub *ha = net_hub_new(rt, "a"), *h1 = net_hub_new(rt, "1"), *h2 = net_hub_new(rt, "2");
  sink s1, s2;
  sink_init(&s1, h1);
  sink_init(&s2, h2);
  net_sock_config lc = {.mode = NET_SOCK_LISTEN, .addr = "127.0.0.1:0"};
  net_sock *l = net_sock_open(rt, ha, &lc, err, sizeof err);
  events = 0;
  net_sock_on_event(l, count_event, NULL);
  net_sock_config cc = {.mode = NET_SOCK_CONNECT, .addr = net_sock_local(l)};
  net_sock_open(rt, h1, &cc, err, sizeof err);
  net_sock_open(rt, h2, &cc, err, sizeof err);
  CHECK(run_until(rt, &events, 2, 2000));
  CHECK_EQ(net_hub_nports(ha), 2);
  /* the listener's hub floods between its peers: s1's frame reaches s2 */
  net_port_send(&s1.port, frame60, sizeof frame60);
  CHECK(run_until(rt, &s2.got, 1, 2000));
  net_port_detach(&s1.port);
  net_port_detach(&s2.port);
  lemu_rt_free(rt);
}

TEST(connector_reconnects_after_the_listener_returns) {
  const char *e;
  char err[256];
  lemu_rt *rt = lemu_rt_new(&e);
  net_hub *ha = net_hub_new(rt, "a"), *hb = net_hub_new(rt, "b");
  net_sock_config lc = {.mode = NET_SOCK_LISTEN, .addr = "127.0.0.1:0"};
  net_sock *l = net_sock_open(rt, ha, &lc, err, sizeof err);
  char addr[64];
  snprintf(addr, sizeof addr, "%s", net_sock_local(l));
  events = drops = 0;
  net_sock_config cc = {.mode = NET_SOCK_CONNECT, .addr = addr, .reconnect_ms = 50};
  net_sock *c = net_sock_open(rt, hb, &cc, err, sizeof err);
  net_sock_on_event(c, note_drop, NULL);
  CHECK(run_until(rt, &events, 1, 2000));
  net_sock_close(l);
  CHECK(run_until(rt, &drops, 1, 2000));
  net_sock_peerinfo pi;
  net_sock_peer(c, 0, &pi);
  CHECK_EQ(pi.connected, 0);
  CHECK_EQ(pi.port->link_up, 0);
  lc.addr = addr;
  l = net_sock_open(rt, ha, &lc, err, sizeof err);
  CHECK(l != NULL);
  CHECK(run_until(rt, &events, 2, 3000));
  net_sock_peer(c, 0, &pi);
  CHECK_EQ(pi.connected, 1);
  CHECK_EQ(net_sock_accepted(c), 2);
  lemu_rt_free(rt);
}

static void dgram_pair(enum net_sock_mode mode, const char *a1, const char *l1, const char *a2, const char *l2) {
  const char *e;
  char err[256];
  lemu_rt *rt = lemu_rt_new(&e);
  net_hub *ha = net_hub_new(rt, "a"), *hb = net_hub_new(rt, "b");
  sink a, b;
  sink_init(&a, ha);
  sink_init(&b, hb);
  net_sock_config c1 = {.mode = mode, .addr = a1, .local = l1}, c2 = {.mode = mode, .addr = a2, .local = l2};
  net_sock *s1 = net_sock_open(rt, ha, &c1, err, sizeof err);
  if (!s1) printf("# %s\n", err);
  net_sock *s2 = net_sock_open(rt, hb, &c2, err, sizeof err);
  if (!s2) printf("# %s\n", err);
  CHECK(s1 && s2);
  if (s1 && s2) {
    net_port_send(&a.port, frame60, sizeof frame60);
    CHECK(run_until(rt, &b.got, 1, 2000));
    net_port_send(&b.port, frame60, sizeof frame60);
    CHECK(run_until(rt, &a.got, 1, 2000));
    /* one frame each way and no echo of our own (multicast loops back to the sender) */
    int never = 0;
    run_until(rt, &never, 1, 100);
    CHECK_EQ(a.got, 1);
    CHECK_EQ(b.got, 1);
  }
  net_port_detach(&a.port);
  net_port_detach(&b.port);
  lemu_rt_free(rt);
}

TEST(udp_pair_carries_one_frame_per_datagram) {
  dgram_pair(NET_SOCK_UDP, "127.0.0.1:47311", "127.0.0.1:47312", "127.0.0.1:47312", "127.0.0.1:47311");
}

TEST(unix_dgram_pair) {
  char p1[64], p2[64];
  snprintf(p1, sizeof p1, "unix:/tmp/lemu-ctest-d1-%d", (int)getpid());
  snprintf(p2, sizeof p2, "unix:/tmp/lemu-ctest-d2-%d", (int)getpid());
  dgram_pair(NET_SOCK_UDP, p2, p1, p1, p2);
  unlink(p1 + 5);
  unlink(p2 + 5);
}

TEST(mcast_members_hear_each_other_not_themselves) {
  dgram_pair(NET_SOCK_MCAST, "230.0.0.1:47313", "127.0.0.1", "230.0.0.1:47313", "127.0.0.1");
}

TEST(bad_addresses_are_clear_errors) {
  const char *e;
  char err[256];
  lemu_rt *rt = lemu_rt_new(&e);
  net_hub *h = net_hub_new(rt, "a");
  net_sock_config c = {.mode = NET_SOCK_LISTEN, .addr = "127.0.0.1:99999"};
  CHECK(net_sock_open(rt, h, &c, err, sizeof err) == NULL);
  CHECK(strstr(err, "bad port") != NULL);
  c.addr = "nocolon";
  CHECK(net_sock_open(rt, h, &c, err, sizeof err) == NULL);
  CHECK(strstr(err, "host:port") != NULL);
  c.mode = NET_SOCK_MCAST;
  c.addr = "10.0.0.1:1234";
  CHECK(net_sock_open(rt, h, &c, err, sizeof err) == NULL);
  CHECK(strstr(err, "multicast") != NULL);
  lemu_rt_free(rt);
}

/* A sink that can refuse frames (busy) with a small queue. */
typedef struct gate {
  net_port port;
  int accept, got;
} gate;
static int gate_receive(net_port *p, net_frame *f) {
  (void)f;
  gate *g = p->owner;
  if (!g->accept) return 0;
  g->got++;
  return 1;
}
static const net_port_ops gate_ops = {"test", gate_receive};

TEST(reading_pauses_while_the_vlan_is_backlogged_and_nothing_is_lost) {
  const char *e;
  char err[256];
  lemu_rt *rt = lemu_rt_new(&e);
  net_hub *ha = net_hub_new(rt, "a"), *hb = net_hub_new(rt, "b");
  sink a;
  sink_init(&a, ha);
  gate g = {.accept = 0};
  net_port_init(&g.port, &gate_ops, &g, "gate");
  net_port_set_queue_limit(&g.port, 8);
  net_port_attach(&g.port, hb);
  net_sock_config lc = {.mode = NET_SOCK_LISTEN, .addr = "127.0.0.1:0"};
  net_sock *l = net_sock_open(rt, ha, &lc, err, sizeof err);
  events = 0;
  net_sock_on_event(l, count_event, NULL);
  net_sock_config cc = {.mode = NET_SOCK_CONNECT, .addr = net_sock_local(l)};
  net_sock *c = net_sock_open(rt, hb, &cc, err, sizeof err);
  CHECK(run_until(rt, &events, 1, 2000));
  for (int i = 0; i < 200; i++) net_port_send(&a.port, frame60, sizeof frame60);
  int never = 0;
  run_until(rt, &never, 1, 200);
  /* the gate holds a few frames; the rest wait in the socket, not dropped */
  CHECK_EQ(g.port.rx.drops, 0);
  CHECK(g.port.qlen >= 4 && g.port.qlen <= 8);
  net_sock_peerinfo pi;
  net_sock_peer(c, 0, &pi);
  CHECK(pi.stats->from_peer.frames < 200);
  g.accept = 1;
  net_port_ready(&g.port);
  CHECK(run_until(rt, &g.got, 200, 3000));
  CHECK_EQ(g.port.rx.drops, 0);
  net_port_detach(&a.port);
  net_port_detach(&g.port);
  lemu_rt_free(rt);
}

typedef struct blaster { net_port *port; int n; } blaster;
static uint8_t big[1514] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5};
static void blast(lemu_timer *t, void *ud) {
  (void)t;
  blaster *b = ud;
  for (int i = 0; i < 50; i++) net_port_send(b->port, big, sizeof big);
  b->n += 50;
}

TEST(a_peer_that_stops_reading_is_dropped_as_stalled) {
  const char *e;
  char err[256];
  lemu_rt *rt = lemu_rt_new(&e);
  net_hub *ha = net_hub_new(rt, "a");
  sink a;
  sink_init(&a, ha);
  net_sock_config lc = {.mode = NET_SOCK_LISTEN, .addr = "127.0.0.1:0", .stall_ms = 300, .wqueue = 65536};
  net_sock *l = net_sock_open(rt, ha, &lc, err, sizeof err);
  events = drops = 0;
  net_sock_on_event(l, note_drop, NULL);
  rawc raw = {.buf = frame60, .len = 0};
  uv_tcp_init(rt_loop(rt), &raw.tcp);
  raw.tcp.data = &raw;
  raw.req.data = &raw;
  struct sockaddr_storage ss;
  unsigned sl;
  net_sock_parse_addr(net_sock_local(l), &ss, &sl, err, sizeof err);
  uv_tcp_connect(&raw.req, &raw.tcp, (struct sockaddr *)&ss, raw_connected);
  CHECK(run_until(rt, &events, 1, 2000));
  blaster b = {&a.port, 0};
  lemu_timer *t = lemu_timer_new(rt, blast, &b);
  lemu_timer_start(t, 1, 1);
  CHECK(run_until(rt, &drops, 1, 8000));
  lemu_timer_close(t);
  CHECK(strstr(drop_reason, "stalled") != NULL);
  CHECK_EQ(net_sock_npeers(l), 0);
  uv_close((uv_handle_t *)&raw.tcp, raw_closed);
  run_until(rt, &raw.closed, 1, 1000);
  net_port_detach(&a.port);
  lemu_rt_free(rt);
}

TEST(a_listener_outlives_its_vlan_safely) {
  const char *e;
  char err[256];
  lemu_rt *rt = lemu_rt_new(&e);
  net_hub *ha = net_hub_new(rt, "a"), *hb = net_hub_new(rt, "b");
  net_sock_config lc = {.mode = NET_SOCK_LISTEN, .addr = "127.0.0.1:0"};
  net_sock *l = net_sock_open(rt, ha, &lc, err, sizeof err);
  events = drops = 0;
  net_hub_close(ha);                      /* the VLAN goes; the listener stays */
  net_sock_config cc = {.mode = NET_SOCK_CONNECT, .addr = net_sock_local(l)};
  net_sock *c = net_sock_open(rt, hb, &cc, err, sizeof err);
  net_sock_on_event(c, note_drop, NULL);
  /* the client connects, then is closed at once by the listener */
  CHECK(run_until(rt, &drops, 1, 2000));
  CHECK_EQ(net_sock_npeers(l), 0);
  lemu_rt_free(rt);
}

TEST(a_runt_frame_is_counted_and_the_connection_kept) {
  const char *e;
  char err[256];
  lemu_rt *rt = lemu_rt_new(&e);
  net_hub *ha = net_hub_new(rt, "a");
  sink a;
  sink_init(&a, ha);
  net_sock_config lc = {.mode = NET_SOCK_LISTEN, .addr = "[::1]:0"};
  net_sock *l = net_sock_open(rt, ha, &lc, err, sizeof err);
  if (!l) { ctest_skip("no IPv6 loopback"); net_port_detach(&a.port); lemu_rt_free(rt); return; }
  CHECK(strncmp(net_sock_local(l), "[::1]:", 6) == 0);
  /* a 4-byte frame (too short for Ethernet), then a good 60-byte one */
  static uint8_t bytes[4 + 4 + 4 + 60] = {0, 0, 0, 4, 1, 2, 3, 4, 0, 0, 0, 60};
  memcpy(bytes + 12, frame60, 60);
  rawc raw = {.buf = bytes, .len = sizeof bytes};
  uv_tcp_init(rt_loop(rt), &raw.tcp);
  raw.tcp.data = &raw;
  raw.req.data = &raw;
  struct sockaddr_storage ss;
  unsigned sl;
  net_sock_parse_addr(net_sock_local(l), &ss, &sl, err, sizeof err);
  uv_tcp_connect(&raw.req, &raw.tcp, (struct sockaddr *)&ss, raw_connected);
  CHECK(run_until(rt, &a.got, 1, 2000));
  net_sock_peerinfo pi;
  CHECK_EQ(net_sock_peer(l, 0, &pi), 0);
  CHECK_EQ(pi.stats->from_peer.drops, 1);
  CHECK_EQ(pi.stats->from_peer.frames, 1);
  CHECK_EQ(pi.connected, 1);
  uv_close((uv_handle_t *)&raw.tcp, raw_closed);
  run_until(rt, &raw.closed, 1, 1000);
  net_port_detach(&a.port);
  lemu_rt_free(rt);
}

static void raw_close_now(uv_connect_t *r, int st) {
  rawc *c = r->data;
  c->done = st ? -1 : 1;
  uv_close((uv_handle_t *)&c->tcp, raw_closed);
}

TEST(writing_to_a_peer_that_has_gone_drops_it_and_the_process_lives) {
  const char *e;
  char err[256];
  lemu_rt *rt = lemu_rt_new(&e);
  net_hub *ha = net_hub_new(rt, "a");
  sink a;
  sink_init(&a, ha);
  net_sock_config lc = {.mode = NET_SOCK_LISTEN, .addr = "127.0.0.1:0"};
  net_sock *l = net_sock_open(rt, ha, &lc, err, sizeof err);
  events = drops = 0;
  net_sock_on_event(l, note_drop, NULL);
  rawc raw = {0};
  uv_tcp_init(rt_loop(rt), &raw.tcp);
  raw.tcp.data = &raw;
  raw.req.data = &raw;
  struct sockaddr_storage ss;
  unsigned sl;
  net_sock_parse_addr(net_sock_local(l), &ss, &sl, err, sizeof err);
  uv_tcp_connect(&raw.req, &raw.tcp, (struct sockaddr *)&ss, raw_close_now);
  CHECK(run_until(rt, &raw.closed, 1, 2000));
  /* The peer is gone. The first write still succeeds and draws a reset; the next one, made from
   * the first one's completion before the listener reads the reset, fails: with EPIPE, not a
   * SIGPIPE that would end this process. */
  net_port_send(&a.port, big, sizeof big);
  usleep(20000);
  net_port_send(&a.port, big, sizeof big);
  CHECK(run_until(rt, &drops, 1, 3000));
  CHECK_EQ(net_sock_npeers(l), 0);
  net_port_detach(&a.port);
  lemu_rt_free(rt);
}
