/* lswitch: a VLAN that is a learning switch from Lua — `vlan:access(port, vid)`,
 * `vlan:trunk(port, {vids}, {native=})`, `vlan:fdb()`, `vlan:flush()` and `vlan:switch_info()`
 * (netstack/switch.h). lemu.vlan(name, {switch=true}) makes one (lnet.c). Module "lemu.switch"
 * adds the methods. */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "lnet.h"
#include "lobj.h"
#include "lswitch.h"
#include "port.h"
#include "switch.h"

static net_switch *check_switch(lua_State *L, net_hub **hp, const char *what) {
  net_hub *h = lnet_checkvlan(L, 1);
  net_switch *s = net_hub_switch(h);
  if (!s) luaL_error(L, "%s: VLAN %s is a hub (make it with lemu.vlan(name, {switch=true}))", what, net_hub_name(h));
  if (hp) *hp = h;
  return s;
}

static uint16_t check_vid(lua_State *L, int idx, const char *what) {
  if (!lua_isinteger(L, idx)) luaL_error(L, "%s: a VLAN id is a whole number from 1 to 4094, got %s", what, luaL_tolstring(L, idx, NULL));
  lua_Integer v = lua_tointeger(L, idx);
  if (v < 1 || v > SWITCH_VID_MAX) luaL_error(L, "%s: VLAN id %I is out of 1..4094", what, (lua_Integer)v);
  return (uint16_t)v;
}

/* vlan:access(port, vid): untagged frames of the port are VLAN id vid; tagged ones are dropped. */
static int sw_access(lua_State *L) {
  net_hub *h;
  net_switch *s = check_switch(L, &h, "access");
  net_port *p = lnet_check_port(L, 2, h, "access");
  if (net_switch_access(s, p, check_vid(L, 3, "access")) < 0) return luaL_error(L, "out of memory");
  return 0;
}

/* vlan:trunk(port, {10, 20, ...}, {native=1}): tagged frames of the ids listed; untagged ones
 * belong to native (none if left out). */
static int sw_trunk(lua_State *L) {
  net_hub *h;
  net_switch *s = check_switch(L, &h, "trunk");
  net_port *p = lnet_check_port(L, 2, h, "trunk");
  luaL_checktype(L, 3, LUA_TTABLE);
  uint64_t allowed[64] = {0};
  lua_Integer n = luaL_len(L, 3);
  if (n == 0) return luaL_error(L, "trunk: give the VLAN ids it carries, e.g. {10, 20}");
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 3, i);
    uint16_t v = check_vid(L, -1, "trunk");
    allowed[v >> 6] |= 1ull << (v & 63);
    lua_pop(L, 1);
  }
  uint16_t native = 0;
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    static const char *const keys[] = {"native", NULL};
    lobj_check_keys(L, 4, "trunk", keys, "native");
    if (lua_getfield(L, 4, "native") != LUA_TNIL) native = check_vid(L, -1, "trunk: native");
    lua_pop(L, 1);
  }
  if (net_switch_trunk(s, p, allowed, native) < 0) return luaL_error(L, "out of memory");
  return 0;
}

static void push_entry(void *ud, const switch_entry *e) {
  lua_State *L = ud;
  lua_createtable(L, 0, 4);
  char mac[18];
  snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", e->mac[0], e->mac[1], e->mac[2],
           e->mac[3], e->mac[4], e->mac[5]);
  lua_pushstring(L, mac);
  lua_setfield(L, -2, "mac");
  lua_pushinteger(L, e->vid);
  lua_setfield(L, -2, "vid");
  lua_pushstring(L, e->port->name);
  lua_setfield(L, -2, "port");
  lua_pushnumber(L, (lua_Number)e->age_ns / 1e9);
  lua_setfield(L, -2, "age");
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
}

/* vlan:fdb(): the live forwarding-table entries {mac=, vid=, port=, age= seconds}, by port then MAC. */
static int sw_fdb(lua_State *L) {
  net_switch *s = check_switch(L, NULL, "fdb");
  lua_newtable(L);
  net_switch_each(s, push_entry, L);
  return 1;
}

static int sw_flush(lua_State *L) {
  net_switch_flush(check_switch(L, NULL, "flush"));
  return 0;
}

/* vlan:switch_info(): the switch's counters and ageing, and each port's mode; nil for a hub. */
static int sw_info(lua_State *L) {
  net_hub *h = lnet_checkvlan(L, 1);
  net_switch *s = net_hub_switch(h);
  if (!s) { lua_pushnil(L); return 1; }
  switch_stats st;
  net_switch_stats(s, &st);
  lua_createtable(L, 0, 8);
  const struct { const char *k; uint64_t v; } f[] = {
    {"forwarded", st.forwarded}, {"flooded", st.flooded}, {"filtered", st.filtered},
    {"learned", st.learned}, {"table_full", st.table_full}, {"entries", st.entries},
  };
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    lua_pushinteger(L, (lua_Integer)f[i].v);
    lua_setfield(L, -2, f[i].k);
  }
  lua_pushnumber(L, (lua_Number)net_switch_ageing(s) / 1e9);
  lua_setfield(L, -2, "ageing");
  lua_newtable(L);
  for (int i = 0; i < net_hub_nports(h); i++) {
    net_port *p = net_hub_port(h, i);
    uint16_t vid;
    uint64_t allowed[64];
    int trunk = net_switch_port_mode(s, p, &vid, allowed);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, trunk ? "trunk" : "access");
    lua_setfield(L, -2, "mode");
    if (trunk) {
      if (vid) { lua_pushinteger(L, vid); lua_setfield(L, -2, "native"); }
      lua_newtable(L);
      for (int v = 1; v <= SWITCH_VID_MAX; v++)
        if (allowed[v >> 6] >> (v & 63) & 1) { lua_pushinteger(L, v); lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1); }
      lua_setfield(L, -2, "vids");
    } else {
      lua_pushinteger(L, vid);
      lua_setfield(L, -2, "vid");
    }
    lua_setfield(L, -2, p->name);
  }
  lua_setfield(L, -2, "ports");
  return 1;
}

int luaopen_lemu_switch(lua_State *L) {
  lnet_vlan_method(L, "access", sw_access);
  lnet_vlan_method(L, "trunk", sw_trunk);
  lnet_vlan_method(L, "fdb", sw_fdb);
  lnet_vlan_method(L, "flush", sw_flush);
  lnet_vlan_method(L, "switch_info", sw_info);
  lua_newtable(L);
  return 1;
}
