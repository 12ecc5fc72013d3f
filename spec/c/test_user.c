/* test_user: the libslirp backend answers on its port from the loop, stops watching sockets it
 * closed, and leaves nothing open when the runtime is freed; the DNS table builds valid replies. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctest.h"
#include "dnshosts.h"
#include "port.h"
#include "rt.h"
#include "user.h"

typedef struct sink { net_port port; int got; uint8_t last[2048]; size_t len; } sink;

static int sink_receive(net_port *p, net_frame *f) {
  sink *s = p->owner;
  s->got++;
  s->len = f->len < sizeof s->last ? f->len : sizeof s->last;
  memcpy(s->last, f->data, s->len);
  return 1;
}

static const net_port_ops sink_ops = {"test", sink_receive};

static void cfg_default(net_user_cfg *c) {
  memset(c, 0, sizeof *c);
  c->ipv4 = 1;
  inet_pton(AF_INET, "10.0.2.0", &c->net);
  inet_pton(AF_INET, "255.255.255.0", &c->mask);
  inet_pton(AF_INET, "10.0.2.2", &c->host);
  inet_pton(AF_INET, "10.0.2.15", &c->dhcpstart);
  inet_pton(AF_INET, "10.0.2.3", &c->dns);
  c->disable_dns = 1;
}

static const uint8_t guest_mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};

static size_t arp_request(uint8_t *f, const char *tpa) {
  memset(f, 0, 60);
  memset(f, 0xff, 6);
  memcpy(f + 6, guest_mac, 6);
  f[12] = 0x08; f[13] = 0x06;
  uint8_t *a = f + 14;
  a[1] = 1; a[2] = 0x08; a[4] = 6; a[5] = 4; a[7] = 1;
  memcpy(a + 8, guest_mac, 6);
  inet_pton(AF_INET, "10.0.2.15", a + 14);
  inet_pton(AF_INET, tpa, a + 24);
  return 60;
}

/* A runtime with one VLAN holding a user-net with the default options and a sink standing in
 * for the guest. Returns the user-net (NULL if it could not be made). */
static net_user *lan_with_user(lemu_rt **rt, sink *s) {
  const char *err;
  char msg[128];
  *rt = lemu_rt_new(&err);
  net_hub *h = net_hub_new(*rt, "lan");
  memset(s, 0, sizeof *s);
  net_port_init(&s->port, &sink_ops, s, "guest");
  net_port_attach(&s->port, h);
  net_user_cfg c;
  cfg_default(&c);
  return net_user_new(*rt, h, &c, msg, sizeof msg);
}

TEST(user_answers_arp_for_the_host_address_and_closes_cleanly) {
  lemu_rt *rt;
  sink s;
  net_user *u = lan_with_user(&rt, &s);
  CHECK(u != NULL);
  uint8_t f[60];
  net_port_send(&s.port, f, arp_request(f, "10.0.2.2"));
  CHECK_EQ(s.got, 1);                      /* answered before slirp_input's caller returns */
  CHECK_EQ(s.last[21], 2);                 /* ARP reply */
  CHECK_EQ(s.last[6], 0x52);
  CHECK_EQ(s.last[7], 0x55);               /* slirp's MAC: 52:55:<host IP> */
  net_port_send(&s.port, f, arp_request(f, "10.0.2.77"));
  CHECK_EQ(s.got, 1);                      /* nobody there */
  struct in_addr lo, any = {0};
  inet_pton(AF_INET, "127.0.0.1", &lo);
  CHECK_EQ(net_user_hostfwd_add(u, 0, lo, 0, any, 22), 0);
  CHECK_EQ(net_user_get_stats(u).polls, 1);  /* the listening socket is watched */
  CHECK(net_user_hostfwd_add(u, 0, lo, 0, any, 22) == 0);
  CHECK_EQ(net_user_get_stats(u).polls, 2);
  net_port_detach(&s.port);
  lemu_rt_free(rt);                        /* closes the backend: no handle may be left */
}

static uint16_t csum(const uint8_t *p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i < n; i += 2) sum += (uint32_t)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* An ICMP echo request from 10.0.2.15 to 10.0.2.2, sent to the MAC dst. */
static size_t echo_request(uint8_t *f, const uint8_t dst[6]) {
  memset(f, 0, 60);
  memcpy(f, dst, 6);
  memcpy(f + 6, guest_mac, 6);
  f[12] = 0x08;
  uint8_t *ip = f + 14;
  ip[0] = 0x45; ip[3] = 28; ip[8] = 64; ip[9] = 1;
  inet_pton(AF_INET, "10.0.2.15", ip + 12);
  inet_pton(AF_INET, "10.0.2.2", ip + 16);
  uint16_t c = csum(ip, 20);
  ip[10] = (uint8_t)(c >> 8); ip[11] = (uint8_t)c;
  uint8_t *icmp = ip + 20;
  icmp[0] = 8; icmp[7] = 7;   /* echo, id 0, seq 7 */
  c = csum(icmp, 8);
  icmp[2] = (uint8_t)(c >> 8); icmp[3] = (uint8_t)c;
  return 60;
}

TEST(user_takes_only_frames_for_its_macs_as_a_nic_would) {
  lemu_rt *rt;
  sink s;
  net_user *u = lan_with_user(&rt, &s);
  CHECK(u != NULL);
  uint8_t f[60];
  net_port_send(&s.port, f, arp_request(f, "10.0.2.2"));   /* broadcast: slirp learns our MAC */
  CHECK_EQ(s.got, 1);
  /* Flooded by the hub from one guest to another: slirp must not answer (nor NAT it out). */
  static const uint8_t other_guest[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x57};
  net_port_send(&s.port, f, echo_request(f, other_guest));
  CHECK_EQ(s.got, 1);
  CHECK_EQ(net_user_get_stats(u).foreign_frames, 1);
  static const uint8_t gateway[6] = {0x52, 0x55, 10, 0, 2, 2};
  net_port_send(&s.port, f, echo_request(f, gateway));
  CHECK_EQ(s.got, 2);
  CHECK_EQ(s.last[34], 0);                 /* echo reply */
  CHECK_EQ(s.last[41], 7);                 /* to our sequence number */
  CHECK_EQ(net_user_get_stats(u).foreign_frames, 1);
  net_port_detach(&s.port);
  lemu_rt_free(rt);
}

TEST(dns_table_replies_with_valid_checksums) {
  dns_hosts *d = dns_hosts_new();
  struct in_addr a, dns;
  inet_pton(AF_INET, "10.0.2.2", &a);
  inet_pton(AF_INET, "10.0.2.3", &dns);
  CHECK_EQ(dns_hosts_add(d, "Server.Test.", AF_INET, &a), 0);
  CHECK_EQ(dns_hosts_add(d, "bad..name", AF_INET, &a), -1);
  dns_hosts_set_server(d, dns, NULL);
  /* A query for server.test A from 10.0.2.15:5000. */
  static const uint8_t q[] = {
    0x52, 0x55, 0x0a, 0, 2, 3, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x08, 0x00,
    0x45, 0, 0, 57, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 2, 15, 10, 0, 2, 3,
    0x13, 0x88, 0, 53, 0, 37, 0, 0,
    0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
    6, 's', 'e', 'r', 'v', 'e', 'r', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
  uint8_t out[512];
  int n = dns_hosts_answer(d, q, sizeof q, out, sizeof out);
  CHECK_EQ(n, (int)sizeof q + 16);
  CHECK(memcmp(out, q + 6, 6) == 0);       /* back to the sender */
  /* IPv4 header checksum folds to zero; the UDP checksum with its pseudo-header too. */
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (uint32_t)out[14 + i] << 8 | out[15 + i];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  CHECK_EQ(sum, 0xffff);
  int ulen = out[38] << 8 | out[39];
  sum = 17 + (uint32_t)ulen;
  for (int i = 0; i < 8; i += 2) sum += (uint32_t)out[26 + i] << 8 | out[27 + i];
  for (int i = 0; i < ulen; i += 2) sum += (uint32_t)out[34 + i] << 8 | (i + 1 < ulen ? out[35 + i] : 0);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  CHECK_EQ(sum, 0xffff);
  CHECK_EQ(out[42 + 3] & 0xf, 0);          /* NOERROR */
  CHECK_EQ(out[42 + 7], 1);                /* one answer */
  CHECK(memcmp(out + n - 4, &a, 4) == 0);
  /* Anything else is not for the table. */
  CHECK_EQ(dns_hosts_answer(d, q, 20, out, sizeof out), 0);
  dns_hosts_stats st = dns_hosts_get_stats(d);
  CHECK_EQ(st.queries, 1);
  CHECK_EQ(st.answered, 1);
  /* Guest frames are untrusted: mutated and truncated queries never read or write out of bounds
   * (run under ASan by `make asan`), and a reply always fits the buffer it was given. */
  uint8_t m[sizeof q];
  unsigned seed = 12345;
  for (int i = 0; i < 50000; i++) {
    memcpy(m, q, sizeof q);
    for (int k = 0; k < 3; k++) {
      seed = seed * 1103515245u + 12345u;
      m[14 + (seed >> 8) % (sizeof q - 14)] = (uint8_t)(seed >> 20);
    }
    size_t len = 14 + (seed >> 4) % (sizeof q - 13);
    uint8_t *copy = malloc(len);   /* exact size, so ASan sees any overread */
    memcpy(copy, m, len);
    size_t cap = 40 + (seed >> 12) % 100;
    uint8_t *o = malloc(cap);
    int r = dns_hosts_answer(d, copy, len, o, cap);
    CHECK(r <= (int)cap);
    free(copy);
    free(o);
  }
  dns_hosts_free(d);
}
