/* ldevices: `lemu.cdevices` — the device model registry (board/mdevices.h) as Lua sees it: the
 * models with their options, plugging one into a machine handle from lemu.cmachine, and a plugged
 * device's info, link and wire. Lua names a device by (machine handle, index): a closed machine
 * makes it an error to use, never a crash. */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "ldevices.h"
#include "lmachine.h"
#include "lnet.h"
#include "lobj.h"
#include "mdevices.h"

static const char *const kinds[] = {"nic", "rng", "disk"};

/* Pushes the space-separated words of s as an array. */
static void push_words(lua_State *L, const char *s) {
  lua_newtable(L);
  int n = 0;
  while (s && *s) {
    const char *e = strchr(s, ' ');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    lua_pushlstring(L, s, len);
    lua_rawseti(L, -2, ++n);
    s = e ? e + 1 : NULL;
  }
}

static void push_model(lua_State *L, const mdev_model *md) {
  lua_createtable(L, 0, 6);
  lua_pushstring(L, md->name);
  lua_setfield(L, -2, "name");
  push_words(L, md->aliases);
  lua_setfield(L, -2, "aliases");
  lua_pushstring(L, md->bus);
  lua_setfield(L, -2, "bus");
  lua_pushstring(L, kinds[md->kind]);
  lua_setfield(L, -2, "kind");
  push_words(L, md->options);
  lua_setfield(L, -2, "options");
  lua_pushstring(L, md->help);
  lua_setfield(L, -2, "help");
}

/* models() -> { {name=, aliases={}, bus=, kind=, options={}, help=}, ... } in registry order */
static int l_models(lua_State *L) {
  int n;
  const mdev_model *ms = mdev_models(&n);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    push_model(L, &ms[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static const char *opt_string(lua_State *L, int t, const char *k) {
  int ty = lua_getfield(L, t, k);
  const char *v = NULL;
  if (ty == LUA_TSTRING) v = lobj_cstr(L, -1, k);
  else if (ty != LUA_TNIL) luaL_error(L, "device: option '%s' must be a string, got %s", k, lua_typename(L, ty));
  lua_pop(L, 1);     /* the string stays reachable from the table */
  return v;
}

static int opt_bool(lua_State *L, int t, const char *k) {
  lua_getfield(L, t, k);
  int v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* plug(machine, model, {vlan=, mac=, name=, file=, readonly=, legacy=, addr=}) -> index[, mac] */
static int l_plug(lua_State *L) {
  machine *m = lmachine_check(L, 1);
  const char *name = luaL_checkstring(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  const mdev_model *md = mdev_find(name);
  if (!md) return luaL_error(L, "device: unknown model '%s'", name);
  mdev_params p;
  memset(&p, 0, sizeof p);
  if (md->kind == MDEV_NIC) {
    lua_getfield(L, 3, "vlan");
    if (!lua_isnil(L, -1)) p.vlan = lnet_checkvlan(L, -1);
    lua_pop(L, 1);
    const char *smac = opt_string(L, 3, "mac");
    if (smac) {
      if (lnet_parse_mac(smac, p.mac) != 0)
        return luaL_error(L, "%s: mac '%s' is not a MAC address like 52:54:00:12:34:56", md->name, smac);
      if (p.mac[0] & 1) return luaL_error(L, "%s: mac '%s' is a multicast address", md->name, smac);
    }
    p.name = opt_string(L, 3, "name");
    /* The MAC is claimed (or the next default taken) only once the rest is known to be good. */
    if (machine_state(m) != MACHINE_CREATED)
      return luaL_error(L, "%s: NICs are plugged before the machine starts "
                           "(lemu.machine{start=false}, then m:start())", md->name);
    if (smac) lnet_claim_mac(L, p.mac);
    else lnet_default_mac(L, p.mac);
  }
  lua_getfield(L, 3, "addr");
  p.addr = lua_isnil(L, -1) ? -1 : (int)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  p.file = opt_string(L, 3, "file");
  p.readonly = opt_bool(L, 3, "readonly");
  p.legacy = opt_bool(L, 3, "legacy");
  char err[512];
  int i = md->plug(m, md, &p, err, sizeof err);
  if (i < 0) return luaL_error(L, "%s", err);
  lua_pushinteger(L, i);
  if (md->kind != MDEV_NIC) return 1;
  char buf[18];
  snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", p.mac[0], p.mac[1], p.mac[2], p.mac[3],
           p.mac[4], p.mac[5]);
  lua_pushstring(L, buf);
  return 2;
}

static const mdev_model *check_dev(lua_State *L, machine **mp, int *slot, net_port **port) {
  machine *m = lmachine_check(L, 1);
  int i = (int)luaL_checkinteger(L, 2);
  const mdev_model *md = mdev_get(m, i, slot, port);
  if (!md) luaL_error(L, "no device %d on this machine", i);
  *mp = m;
  return md;
}

static void put_counter(void *ud, const char *name, uint64_t v) {
  lua_State *L = ud;
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, name);
}

/* info(machine, index) -> {model=, bus=, kind=, slot=, port=port info (NICs), counters= (the
 * model's own, for models that keep them)} */
static int l_info(lua_State *L) {
  machine *m;
  int slot;
  net_port *port;
  const mdev_model *md = check_dev(L, &m, &slot, &port);
  lua_createtable(L, 0, 5);
  lua_pushstring(L, md->name);
  lua_setfield(L, -2, "model");
  lua_pushstring(L, md->bus);
  lua_setfield(L, -2, "bus");
  lua_pushstring(L, kinds[md->kind]);
  lua_setfield(L, -2, "kind");
  lua_pushinteger(L, slot);
  lua_setfield(L, -2, "slot");
  if (port) {
    lnet_push_port_info(L, port);
    lua_setfield(L, -2, "port");
  }
  if (md->card) {
    lua_newtable(L);
    mdev_counters(m, (int)lua_tointeger(L, 2), put_counter, L);
    lua_setfield(L, -2, "counters");
  }
  return 1;
}

static net_port *check_nic(lua_State *L, machine **m, int *index) {
  int slot;
  net_port *port;
  const mdev_model *md = check_dev(L, m, &slot, &port);
  if (!port) luaL_error(L, "device %d (%s) is not a NIC", (int)lua_tointeger(L, 2), md->name);
  *index = (int)lua_tointeger(L, 2);
  return port;
}

/* link(machine, index[, up]) -> up */
static int l_link(lua_State *L) {
  machine *m;
  int i;
  check_nic(L, &m, &i);
  int up = lua_isnoneornil(L, 3) ? -1 : lua_toboolean(L, 3);
  lua_pushboolean(L, mdev_nic_link(m, i, up) > 0);
  return 1;
}

/* attach(machine, index, vlan|nil): moves the NIC's wire to another VLAN (or unplugs it). */
static int l_attach(lua_State *L) {
  machine *m;
  int i;
  net_port *port = check_nic(L, &m, &i);
  if (lua_isnoneornil(L, 3)) net_port_detach(port);
  else net_port_attach(port, lnet_checkvlan(L, 3));
  return 0;
}

int luaopen_lemu_cdevices(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"models", l_models}, {"plug", l_plug}, {"info", l_info}, {"link", l_link},
    {"attach", l_attach}, {NULL, NULL}
  };
  luaL_newlib(L, fns);
  return 1;
}
