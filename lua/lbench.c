/* lbench: measurements that Lua cannot make without measuring itself — `lemu.bench.hub(ports,
 * size, frames)` floods frames through a hub to C sink ports (as NICs would take them) and
 * returns the elapsed time. Used by scripts/bench/hub.lua. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "lbench.h"
#include "lobj.h"
#include "port.h"
#include "rt.h"

typedef struct sink { net_port port; uint64_t frames, bytes; uint8_t *buf; } sink;

static int sink_receive(net_port *p, net_frame *f) {
  sink *s = p->owner;
  if (s->buf) memcpy(s->buf, f->data, f->len); /* as a NIC copies into guest memory */
  s->frames++;
  s->bytes += f->len;
  return 1;
}

static const net_port_ops sink_ops = {"bench", sink_receive};

/* hub(ports, size, frames, copy[, switch]) -> seconds, frames delivered, bytes delivered. copy:
 * receivers copy each frame out (as a NIC's DMA does) instead of only looking at it. switch: the
 * VLAN is a learning switch, every port's address has been learned and port 0 sends unicast to
 * the others in turn (each frame reaches one port). */
static int bench_hub(lua_State *L) {
  lua_Integer nports = luaL_checkinteger(L, 1);
  lua_Integer size = luaL_checkinteger(L, 2);
  lua_Integer n = luaL_checkinteger(L, 3);
  luaL_argcheck(L, nports >= 2 && nports <= 4096, 1, "ports must be 2..4096");
  luaL_argcheck(L, size >= NET_FRAME_MIN && size <= NET_FRAME_MAX, 2, "size must be 14..65535");
  luaL_argcheck(L, n >= 1, 3, "frames must be >= 1");
  int copy = lua_toboolean(L, 4);
  int sw = lua_toboolean(L, 5);
  lemu_rt *rt = lstate_get(L)->rt;
  net_hub *h = net_hub_new(rt, "bench");
  if (h && sw && net_hub_make_switch(h, 300000000000ull) < 0) { net_hub_close(h); h = NULL; }
  sink *s = calloc((size_t)nports, sizeof *s);
  uint8_t *frame = calloc(1, (size_t)size);
  if (!h || !s || !frame) {
    free(s);
    free(frame);
    if (h) net_hub_close(h);
    return luaL_error(L, "out of memory");
  }
  memset(frame, 0xff, 6);
  frame[12] = 0x08;
  for (int i = 0; i < nports; i++) {
    if (copy && !(s[i].buf = malloc((size_t)size))) copy = 0;
    net_port_init(&s[i].port, &sink_ops, &s[i], "bench");
    net_port_attach(&s[i].port, h);
  }
  if (sw) {
    /* Each port says hello once (a broadcast from its own address), so the switch knows it. */
    for (int i = 0; i < nports; i++) {
      frame[6] = 0x02; frame[10] = (uint8_t)(i >> 8); frame[11] = (uint8_t)i;
      net_port_send(&s[i].port, frame, (size_t)size);
    }
    for (int i = 0; i < nports; i++) s[i].frames = s[i].bytes = 0;
    frame[6] = 0x02; frame[10] = 0; frame[11] = 0;
    frame[0] = 0x02; frame[1] = frame[2] = frame[3] = 0;
  }
  uint64_t t0 = uv_hrtime();
  for (lua_Integer i = 0; i < n; i++) {
    frame[20] = (uint8_t)i; /* the frame a guest hands over is new each time: copy it in */
    if (sw) {
      int to = 1 + (int)(i % (nports - 1));
      frame[4] = (uint8_t)(to >> 8);
      frame[5] = (uint8_t)to;
    }
    net_port_send(&s[0].port, frame, (size_t)size);
  }
  uint64_t t1 = uv_hrtime();
  uint64_t frames = 0, bytes = 0;
  for (int i = 0; i < nports; i++) {
    frames += s[i].frames;
    bytes += s[i].bytes;
    net_port_detach(&s[i].port);
    free(s[i].buf);
  }
  net_hub_close(h);
  free(s);
  free(frame);
  lua_pushnumber(L, (double)(t1 - t0) / 1e9);
  lua_pushinteger(L, (lua_Integer)frames);
  lua_pushinteger(L, (lua_Integer)bytes);
  return 3;
}

int luaopen_lemu_bench(lua_State *L) {
  static const luaL_Reg fns[] = {{"hub", bench_hub}, {"usernet_ping", lbench_usernet_ping},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
