/* ltap: TAP devices for `vlan:tap{ifname=, script=, downscript=, vnet_hdr=, up={addr=}}` (module
 * "lemu.ctap"; vlan:tap(fn) with a function is a frame tap, see lemu/hostnet.lua). */
#include <lauxlib.h>
#include <string.h>

#include "lhostnet.h"
#include "lnet.h"
#include "lobj.h"
#include "rt.h"
#include "tap.h"

#define LTAP "lemu.tapdev"

static const char *opt_str(lua_State *L, int t, const char *k) {
  int ty = lua_getfield(L, t, k);
  if (ty == LUA_TNIL) { lua_pop(L, 1); return NULL; }
  if (ty != LUA_TSTRING) luaL_error(L, "vlan:tap: %s= must be a string", k);
  const char *s = lobj_cstr(L, -1, k);
  lua_pop(L, 1);   /* the string stays alive in the options table */
  return s;
}

static int tap_new(lua_State *L) {
  net_hub *h = lnet_checkvlan(L, 1);
  if (lua_isnoneornil(L, 2)) lua_newtable(L), lua_replace(L, 2);
  luaL_checktype(L, 2, LUA_TTABLE);
  static const char *const valid[] = {"ifname", "script", "downscript", "vnet_hdr", "up", NULL};
  lobj_check_keys(L, 2, "vlan:tap", valid, "ifname, script, downscript, vnet_hdr, up");
  net_tap_config cfg = {0};
  cfg.ifname = opt_str(L, 2, "ifname");
  cfg.script = opt_str(L, 2, "script");
  cfg.downscript = opt_str(L, 2, "downscript");
  lua_getfield(L, 2, "vnet_hdr");
  cfg.vnet_hdr = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (lua_getfield(L, 2, "up") != LUA_TNIL) {
    if (!lua_istable(L, -1)) return luaL_error(L, "vlan:tap: up= must be a table like {addr=\"192.168.76.1/24\"}");
    cfg.up_addr = opt_str(L, lua_gettop(L), "addr");
    if (!cfg.up_addr) return luaL_error(L, "vlan:tap: up.addr is needed (like \"192.168.76.1/24\")");
  }
  char err[512];
  net_tap_dev *t = net_tap_open(lstate_get(L)->rt, h, &cfg, err, sizeof err);
  if (!t) return luaL_error(L, "vlan:tap: %s", err);
  lobj_new(L, LTAP, t);
  return 1;
}


void lhostnet_fdport_fields(lua_State *L, const net_fdport *fp) {
  lua_pushboolean(L, !fp->closing);
  lua_setfield(L, -2, "connected");
  lua_pushstring(L, fp->peer);
  lua_setfield(L, -2, "peer");
  const net_counters *cs[2] = {&fp->to_host, &fp->from_host};
  const char *names[2] = {"to_peer", "from_peer"};
  for (int i = 0; i < 2; i++) {
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)cs[i]->frames);
    lua_setfield(L, -2, "frames");
    lua_pushinteger(L, (lua_Integer)cs[i]->bytes);
    lua_setfield(L, -2, "bytes");
    lua_pushinteger(L, (lua_Integer)cs[i]->drops);
    lua_setfield(L, -2, "drops");
    lua_setfield(L, -2, names[i]);
  }
}

/* tap and vde ports in vlan:ports(): the descriptor-side counters. */
static void port_info(lua_State *L, const net_port *port) {
  const net_fdport *fp = net_fdport_of(port);
  if (fp) lhostnet_fdport_fields(L, fp);
}

static int tap_info(lua_State *L) {
  net_tap_dev *t = lobj_check(L, 1, LTAP);
  lnet_push_port_info(L, &net_tap_fdport(t)->port);
  lua_pushstring(L, net_tap_ifname(t));
  lua_setfield(L, -2, "ifname");
  return 1;
}

static int tap_ifname(lua_State *L) {
  lua_pushstring(L, net_tap_ifname(lobj_check(L, 1, LTAP)));
  return 1;
}

static int tap_close(lua_State *L) {
  int closed;
  net_tap_dev *t = lobj_checkopen(L, 1, LTAP, &closed);
  if (closed) return 0;
  lobj_forget(L, t);
  net_tap_close(t);
  return 0;
}

int luaopen_lemu_ctap(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"info", tap_info}, {"ifname", tap_ifname}, {"close", tap_close}, {NULL, NULL}
  };
  lobj_class(L, LTAP, "TAP device", methods);
  lnet_register_info("tap", port_info);
  lnet_register_info("vde", port_info);
  /* vlan:tap is shared with frame taps (lemu.capture): lemu/hostnet.lua dispatches on the argument */
  lua_newtable(L);
  lua_pushcfunction(L, tap_new);
  lua_setfield(L, -2, "new");
  return 1;
}
