/* lsock: the C half of socket backends ("lemu.csock"): opens a net_sock on a VLAN, reports its
 * state and counters, and forwards its events to Lua. lua/lemu/sock.lua turns QEMU's spellings
 * (socket/stream/dgram) into calls of csock.open. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "lnet.h"
#include "lobj.h"
#include "lsock.h"
#include "rt.h"
#include "sock.h"

#define LSOCK "lemu.socket"

typedef struct lsock {
  net_sock *s;
  lstate *st;
  int fn;   /* Lua function(handle, event, addr, reason) */
} lsock;

static void on_event(net_sock *s, const char *ev, const char *addr, const char *reason, void *ud) {
  (void)s;
  lsock *ls = ud;
  if (ls->st->closing || ls->fn == LUA_NOREF) return;
  lua_State *L = ls->st->L;
  lobj_push(L, ls);
  lua_pushstring(L, ev);
  lua_pushstring(L, addr);
  if (reason) lua_pushstring(L, reason);
  else lua_pushnil(L);
  lcall(L, ls->fn, 4);
}

static unsigned opt_uint(lua_State *L, int idx, const char *what, lua_Integer max) {
  if (lua_isnoneornil(L, idx)) return 0;
  int ok;
  lua_Integer v = lua_tointegerx(L, idx, &ok);
  if (!ok || v < 0 || v > max) luaL_error(L, "%s must be a whole number from 0 to %I", what, max);
  return (unsigned)v;
}

/* open(vlan, mode, addr, local, reconnect_ms, stall_ms, wqueue, fn[, vni]) */
static int lsock_open(lua_State *L) {
  static const char *const modes[] = {"listen", "connect", "udp", "mcast", "vxlan", NULL};
  net_hub *h = lnet_checkvlan(L, 1);
  net_sock_config cfg = {0};
  cfg.mode = (enum net_sock_mode)luaL_checkoption(L, 2, NULL, modes);
  cfg.addr = lobj_checkcstr(L, 3, "socket address");
  cfg.local = lobj_optcstr(L, 4, NULL, "socket localaddr=");
  cfg.reconnect_ms = opt_uint(L, 5, "reconnect", 86400000);
  cfg.stall_ms = opt_uint(L, 6, "stall_timeout", 86400000);
  cfg.wqueue = opt_uint(L, 7, "write_queue", 64 * 1024 * 1024);
  cfg.vni = opt_uint(L, 9, "vni", 0xffffff);
  lstate *st = lstate_get(L);
  lsock *ls = calloc(1, sizeof *ls);
  if (!ls) return luaL_error(L, "out of memory");
  ls->st = st;
  ls->fn = lua_isfunction(L, 8) ? lref(L, 8) : LUA_NOREF;
  char err[256];
  ls->s = net_sock_open(st->rt, h, &cfg, err, sizeof err);
  if (!ls->s) {
    lunref(L, ls->fn);
    free(ls);
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  net_sock_on_event(ls->s, on_event, ls);
  lobj_new(L, LSOCK, ls);
  return 1;
}

static void push_counters(lua_State *L, const net_counters *c, const char *field) {
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)c->frames);
  lua_setfield(L, -2, "frames");
  lua_pushinteger(L, (lua_Integer)c->bytes);
  lua_setfield(L, -2, "bytes");
  lua_pushinteger(L, (lua_Integer)c->drops);
  lua_setfield(L, -2, "drops");
  lua_setfield(L, -2, field);
}

/* A peer: its port's info (kind, name, vlan, link, queued, rx, tx) plus addr, connected, and the
 * wire counters to_peer/from_peer. */
static void push_peer(lua_State *L, const net_sock_peerinfo *pi) {
  lnet_push_port_info(L, pi->port);
  lua_pushstring(L, pi->addr);
  lua_setfield(L, -2, "peer");
  lua_pushboolean(L, pi->connected);
  lua_setfield(L, -2, "connected");
  push_counters(L, &pi->stats->to_peer, "to_peer");
  push_counters(L, &pi->stats->from_peer, "from_peer");
}

/* The fields a socket adds to its port's info in vlan:ports() and vlan:info(). */
static void port_info(lua_State *L, const net_port *port) {
  net_sock_peerinfo pi;
  if (net_sock_port_peer(port, &pi) < 0) return;
  lua_pushstring(L, pi.addr);
  lua_setfield(L, -2, "peer");
  lua_pushboolean(L, pi.connected);
  lua_setfield(L, -2, "connected");
  push_counters(L, &pi.stats->to_peer, "to_peer");
  push_counters(L, &pi.stats->from_peer, "from_peer");
}

static int lsock_info(lua_State *L) {
  lsock *ls = lobj_check(L, 1, LSOCK);
  net_sock *s = ls->s;
  int n = net_sock_npeers(s);
  net_sock_peerinfo pi;
  /* single-peer modes: the peer's fields at the top level */
  if (n == 1 && strcmp(net_sock_mode_name(s), "listen") != 0) {
    net_sock_peer(s, 0, &pi);
    push_peer(L, &pi);
  } else {
    lua_createtable(L, 0, 12);
    lua_pushstring(L, "socket");
    lua_setfield(L, -2, "kind");
    int any = 0;
    for (int i = 0; i < n; i++) {
      net_sock_peer(s, i, &pi);
      any |= pi.connected;
    }
    lua_pushboolean(L, any);
    lua_setfield(L, -2, "connected");
  }
  lua_pushstring(L, net_sock_mode_name(s));
  lua_setfield(L, -2, "mode");
  lua_pushstring(L, net_sock_local(s));
  lua_setfield(L, -2, "local");
  lua_pushinteger(L, net_sock_accepted(s));
  lua_setfield(L, -2, "connections");
  lua_pushinteger(L, net_sock_dropped(s));
  lua_setfield(L, -2, "dropped");
  if (*net_sock_last_drop(s)) {
    lua_pushstring(L, net_sock_last_drop(s));
    lua_setfield(L, -2, "last_drop");
  }
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    net_sock_peer(s, i, &pi);
    push_peer(L, &pi);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "peers");
  return 1;
}

static int lsock_local(lua_State *L) {
  lsock *ls = lobj_check(L, 1, LSOCK);
  lua_pushstring(L, net_sock_local(ls->s));
  return 1;
}

static int lsock_connected(lua_State *L) {
  lsock *ls = lobj_check(L, 1, LSOCK);
  int n = net_sock_npeers(ls->s), c = 0;
  net_sock_peerinfo pi;
  for (int i = 0; i < n; i++) {
    net_sock_peer(ls->s, i, &pi);
    c += pi.connected;
  }
  lua_pushinteger(L, c);
  return 1;
}

static int lsock_reconnect(lua_State *L) {
  lsock *ls = lobj_check(L, 1, LSOCK);
  net_sock_reconnect(ls->s);
  return 0;
}

static int lsock_close(lua_State *L) {
  int closed;
  lsock *ls = lobj_checkopen(L, 1, LSOCK, &closed);
  if (closed) return 0;
  lobj_forget(L, ls);
  lunref(L, ls->fn);
  ls->fn = LUA_NOREF;
  net_sock_close(ls->s);
  free(ls);
  return 0;
}

int luaopen_lemu_csock(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"info", lsock_info}, {"local_addr", lsock_local}, {"connected", lsock_connected},
    {"reconnect", lsock_reconnect}, {"close", lsock_close}, {NULL, NULL}
  };
  lobj_class(L, LSOCK, "socket", methods);
  lnet_register_info("socket", port_info);
  lnet_register_info("vxlan", port_info);
  lua_newtable(L);
  lua_pushcfunction(L, lsock_open);
  lua_setfield(L, -2, "open");
  return 1;
}
