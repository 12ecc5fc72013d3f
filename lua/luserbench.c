/* luserbench: `lemu.bench.usernet_ping`, a C driver for the slirp benchmark — ICMP echoes from a C
 * port to a fresh user net, so that the figure is slirp's and the loop glue's, without Lua. */
#include <arpa/inet.h>
#include <lauxlib.h>
#include <string.h>

#include "lobj.h"
#include "lbench.h"
#include "port.h"
#include "user.h"

typedef struct bsink { net_port port; uint64_t got; } bsink;

static int bsink_receive(net_port *p, net_frame *f) {
  bsink *b = p->owner;
  if (f->len > 34 && f->data[12] == 8 && f->data[13] == 0 && f->data[23] == 1 && f->data[34] == 0) b->got++;
  return 1;
}

static const net_port_ops bsink_ops = {"bench", bsink_receive};

static uint16_t csum(const uint8_t *p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)p[i] << 8 | p[i + 1];
  if (n & 1) s += (uint32_t)p[n - 1] << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

/* usernet.bench_ping(n) -> seconds, replies: n ICMP echoes from a C port to 10.0.2.2 on a fresh
 * VLAN, each answered before the send returns — slirp's own round trip, without Lua. */
int lbench_usernet_ping(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  lemu_rt *rt = lstate_get(L)->rt;
  net_hub *h = net_hub_new(rt, "bench-slirp-c");
  bsink b;
  memset(&b, 0, sizeof b);
  net_port_init(&b.port, &bsink_ops, &b, "bench");
  net_port_attach(&b.port, h);
  /* QEMU's default user-net, through the public interface (lemu.h), forwarding no DNS. */
  lemu_user_config c = {.no_dns = 1};
  char err[128];
  net_user *u = (net_user *)lemu_user_new(rt, (lemu_vlan *)h, &c, err, sizeof err);
  if (!u) { net_port_detach(&b.port); net_hub_close(h); return luaL_error(L, "bench: %s", err); }
  static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
  uint8_t f[98];
  /* An ARP request first: slirp learns our MAC from it. */
  memset(f, 0, 60);
  memset(f, 0xff, 6);
  memcpy(f + 6, mac, 6);
  f[12] = 8; f[13] = 6; f[15] = 1; f[16] = 8; f[18] = 6; f[19] = 4; f[21] = 1;
  memcpy(f + 22, mac, 6);
  inet_pton(AF_INET, "10.0.2.15", f + 28);
  inet_pton(AF_INET, "10.0.2.2", f + 38);
  net_port_send(&b.port, f, 60);
  /* The echo request: Ethernet to slirp's MAC, IPv4, ICMP with 56 bytes of data. */
  static const uint8_t smac[6] = {0x52, 0x55, 10, 0, 2, 2};
  memset(f, 0, sizeof f);
  memcpy(f, smac, 6);
  memcpy(f + 6, mac, 6);
  f[12] = 8;
  uint8_t *ip = f + 14;
  ip[0] = 0x45; ip[3] = 84; ip[8] = 64; ip[9] = 1;
  inet_pton(AF_INET, "10.0.2.15", ip + 12);
  inet_pton(AF_INET, "10.0.2.2", ip + 16);
  uint16_t s = csum(ip, 20);
  ip[10] = (uint8_t)(s >> 8); ip[11] = (uint8_t)s;
  uint8_t *ic = ip + 20;
  ic[0] = 8; ic[4] = 0x4c; ic[5] = 0x45;
  uint64_t t0 = lemu_rt_now_ns(rt);
  for (lua_Integer i = 0; i < n; i++) {
    ic[6] = (uint8_t)(i >> 8); ic[7] = (uint8_t)i;
    ic[2] = ic[3] = 0;
    s = csum(ic, 64);
    ic[2] = (uint8_t)(s >> 8); ic[3] = (uint8_t)s;
    net_port_send(&b.port, f, sizeof f);
  }
  double secs = (double)(lemu_rt_now_ns(rt) - t0) / 1e9;
  net_user_close(u);
  net_port_detach(&b.port);
  net_hub_close(h);
  lua_pushnumber(L, secs);
  lua_pushinteger(L, (lua_Integer)b.got);
  return 2;
}

