/* lnet: `lemu.vlan(id)` — VLANs by number or name, each a hub — and the helpers backends share. */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "limpair.h"
#include "lendpoint.h"
#include "lnet.h"
#include "lobj.h"
#include "rt.h"
#include "switch.h"

static const char VLANS[] = "lemu.vlans";   /* registry: key (number or name) -> handle */

net_hub *lnet_checkvlan(lua_State *L, int idx) { return lobj_check(L, idx, LNET_VLAN); }

void lnet_pushvlan(lua_State *L, net_hub *h) { lobj_push(L, h); }

void lnet_vlan_method(lua_State *L, const char *name, lua_CFunction fn) {
  luaL_getmetatable(L, LNET_VLAN);
  lua_pushcfunction(L, fn);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

static void push_counters(lua_State *L, const net_counters *c) {
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)c->frames);
  lua_setfield(L, -2, "frames");
  lua_pushinteger(L, (lua_Integer)c->bytes);
  lua_setfield(L, -2, "bytes");
  lua_pushinteger(L, (lua_Integer)c->drops);
  lua_setfield(L, -2, "drops");
}

static struct { const char *kind; lnet_info_fn fn; } info_fns[16];

void lnet_register_info(const char *kind, lnet_info_fn fn) {
  for (int i = 0; i < 16; i++) {
    if (!info_fns[i].kind || strcmp(info_fns[i].kind, kind) == 0) {
      info_fns[i].kind = kind;
      info_fns[i].fn = fn;
      return;
    }
  }
}

void lnet_push_port_info(lua_State *L, const net_port *p) {
  lua_createtable(L, 0, 8);
  lua_pushstring(L, p->ops->kind);
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, p->name);
  lua_setfield(L, -2, "name");
  if (p->hub) {
    lua_pushstring(L, net_hub_name(p->hub));
    lua_setfield(L, -2, "vlan");
  }
  lua_pushboolean(L, p->link_up);
  lua_setfield(L, -2, "link");
  lua_pushinteger(L, p->qlen);
  lua_setfield(L, -2, "queued");
  push_counters(L, &p->rx);
  lua_setfield(L, -2, "rx");
  push_counters(L, &p->tx);
  lua_setfield(L, -2, "tx");
  limpair_push_info(L, p);
  for (int i = 0; i < 16 && info_fns[i].kind; i++)
    if (strcmp(info_fns[i].kind, p->ops->kind) == 0) info_fns[i].fn(L, p);
}

/* lemu.vlan(id): the VLAN with that number or name, created on first use. */
static int l_vlan(lua_State *L) {
  int t = lua_type(L, 1);
  char name[48];
  if (t == LUA_TNUMBER) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0, 1, "a VLAN number must be >= 0");
    snprintf(name, sizeof name, "%lld", (long long)n);
  } else if (t == LUA_TSTRING) {
    size_t len;
    const char *s = lua_tolstring(L, 1, &len);
    luaL_argcheck(L, len > 0 && len < sizeof name, 1, "a VLAN name must be 1 to 47 characters");
    /* The hub keeps a C string: "a\0b" would quietly become the VLAN "a". */
    luaL_argcheck(L, strlen(s) == len, 1, "a VLAN name cannot hold a NUL byte");
    snprintf(name, sizeof name, "%s", s);
  } else {
    return luaL_argerror(L, 1, "expected a VLAN number or name");
  }
  /* {switch=true, ageing=seconds}: a learning switch instead of a hub */
  int want_switch = -1;
  double ageing = SWITCH_AGEING_DEFAULT_S;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const keys[] = {"switch", "ageing", NULL};
    lobj_check_keys(L, 2, "lemu.vlan", keys, "switch, ageing");
    if (lua_getfield(L, 2, "switch") != LUA_TNIL) want_switch = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, 2, "ageing") != LUA_TNIL) {
      ageing = luaL_checknumber(L, -1);
      if (!(ageing > 0 && ageing <= 1e6)) luaL_error(L, "lemu.vlan: ageing=%s: seconds from above 0 to 1000000", luaL_tolstring(L, -1, NULL));
      if (want_switch < 0) want_switch = 1;
      if (!want_switch) luaL_error(L, "lemu.vlan: ageing= is for a switch (switch=true)");
    }
    lua_pop(L, 1);
  }
  luaL_getsubtable(L, LUA_REGISTRYINDEX, VLANS);
  lua_pushstring(L, name);
  if (lua_rawget(L, -2) == LUA_TUSERDATA) {
    int closed;
    net_hub *old = lobj_checkopen(L, -1, LNET_VLAN, &closed);
    if (!closed) {
      if (want_switch >= 0 && want_switch != (net_hub_switch(old) != NULL))
        luaL_error(L, "lemu.vlan(%s): the VLAN exists already as a %s", name, net_hub_switch(old) ? "switch" : "hub");
      return 1;
    }
  }
  lua_pop(L, 1);
  net_hub *h = net_hub_new(lstate_get(L)->rt, name);
  if (!h) return luaL_error(L, "out of memory");
  if (want_switch > 0 && net_hub_make_switch(h, (uint64_t)(ageing * 1e9)) < 0) {
    net_hub_close(h);
    return luaL_error(L, "out of memory");
  }
  lobj_new(L, LNET_VLAN, h);
  lua_pushstring(L, name);
  lua_pushvalue(L, -2);
  lua_rawset(L, -4);
  return 1;
}

static int vlan_name(lua_State *L) {
  lua_pushstring(L, net_hub_name(lnet_checkvlan(L, 1)));
  return 1;
}

/* vlan:ports(): a list of port info tables. */
static int vlan_ports(lua_State *L) {
  net_hub *h = lnet_checkvlan(L, 1);
  int n = net_hub_nports(h);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lnet_push_port_info(L, net_hub_port(h, i));
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int vlan_frames(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)net_hub_frames(lnet_checkvlan(L, 1)));
  return 1;
}

/* vlan:close(): detaches every port (their owners see the link gone) and forgets the VLAN. */
static int vlan_close(lua_State *L) {
  int closed;
  net_hub *h = lobj_checkopen(L, 1, LNET_VLAN, &closed);
  if (closed) return 0;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, VLANS);
  lua_pushstring(L, net_hub_name(h));
  lua_pushnil(L);
  lua_rawset(L, -3);
  lobj_forget(L, h);
  net_hub_close(h);
  return 0;
}

/* vlans(): the open VLANs, in no particular order (lemu.vlans sorts them). */
static int l_vlans(lua_State *L) {
  lua_newtable(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, VLANS);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    int closed;
    lobj_checkopen(L, -1, LNET_VLAN, &closed);
    if (!closed) lua_rawseti(L, -4, (lua_Integer)luaL_len(L, -4) + 1);
    else lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 1;
}

/* vlan:link(port[, up]): a port's link (a port name, an endpoint or a NIC handle); with up, sets it
 * first. A port with its link down neither sends nor receives (QEMU's set_link on a netdev). For
 * a NIC, nic:link(up) also tells the guest (its link status bit); this only gates the port. */
static int vlan_link(lua_State *L) {
  net_hub *h = lnet_checkvlan(L, 1);
  net_port *p = lnet_check_port(L, 2, h, "vlan:link");
  if (!lua_isnoneornil(L, 3)) net_port_set_link(p, lua_toboolean(L, 3));
  lua_pushboolean(L, p->link_up);
  return 1;
}

int luaopen_lemu_net(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"name", vlan_name}, {"ports", vlan_ports}, {"frames", vlan_frames}, {"close", vlan_close},
    {"link", vlan_link},
    {NULL, NULL}
  };
  lobj_class(L, LNET_VLAN, "VLAN", methods);
  lua_newtable(L);
  lua_pushcfunction(L, l_vlan);
  lua_setfield(L, -2, "vlan");
  lua_pushcfunction(L, l_vlans);
  lua_setfield(L, -2, "vlans");
  return 1;
}

/* Marks mac as in use; returns whether it already was. */
int lnet_claim_mac(lua_State *L, const uint8_t mac[6]) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, "lemu.usedmacs");
  lua_pushlstring(L, (const char *)mac, 6);
  int used = lua_rawget(L, -2) != LUA_TNIL;
  lua_pop(L, 1);
  lua_pushlstring(L, (const char *)mac, 6);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  return used;
}

void lnet_default_mac(lua_State *L, uint8_t mac[6]) {
  lua_getfield(L, LUA_REGISTRYINDEX, "lemu.nextmac");
  lua_Integer n = lua_tointeger(L, -1);
  lua_pop(L, 1);
  do { /* skip MACs a script gave explicitly */
    uint32_t low = (0x123456u + (uint32_t)n++) & 0xffffffu;
    mac[0] = 0x52; mac[1] = 0x54; mac[2] = 0x00;
    mac[3] = (uint8_t)(low >> 16); mac[4] = (uint8_t)(low >> 8); mac[5] = (uint8_t)low;
  } while (lnet_claim_mac(L, mac));
  lua_pushinteger(L, n);
  lua_setfield(L, LUA_REGISTRYINDEX, "lemu.nextmac");
}

int lnet_parse_mac(const char *s, uint8_t mac[6]) {
  unsigned v[6];
  char sep[5], end;
  if (sscanf(s, "%2x%c%2x%c%2x%c%2x%c%2x%c%2x%c", &v[0], &sep[0], &v[1], &sep[1], &v[2], &sep[2],
             &v[3], &sep[3], &v[4], &sep[4], &v[5], &end) != 11)
    return -1;
  for (int i = 0; i < 5; i++)
    if (sep[i] != sep[0] || (sep[i] != ':' && sep[i] != '-')) return -1;
  if (strlen(s) != 17) return -1;
  for (int i = 0; i < 6; i++) mac[i] = (uint8_t)v[i];
  return 0;
}

net_port *lnet_check_port(lua_State *L, int idx, net_hub *h, const char *what) {
  idx = lua_absindex(L, idx);
  const char *name = NULL;
  if (lua_type(L, idx) == LUA_TSTRING) {
    name = lobj_cstr(L, idx, what);
  } else if (luaL_testudata(L, idx, "lemu.endpoint")) {
    net_port *p = lendpoint_port(L, idx);
    if (p->hub != h) luaL_error(L, "%s: port %s is not on VLAN %s", what, p->name, net_hub_name(h));
    return p;
  } else if (lua_type(L, idx) == LUA_TTABLE && lua_getfield(L, idx, "name") == LUA_TSTRING) {
    name = lua_tostring(L, -1);      /* a device handle: its port is named after it */
    lua_pop(L, 1);
  } else {
    luaL_error(L, "%s: expected a port name, an endpoint or a NIC, got %s", what, luaL_typename(L, idx));
  }
  net_port *p = lnet_find_port(h, name);
  if (!p) luaL_error(L, "%s: no port '%s' on VLAN %s", what, name, net_hub_name(h));
  return p;
}

net_port *lnet_find_port(net_hub *h, const char *name) {
  for (int i = 0; i < net_hub_nports(h); i++) {
    net_port *p = net_hub_port(h, i);
    if (strcmp(p->name, name) == 0) return p;
  }
  return NULL;
}
