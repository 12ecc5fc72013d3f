/* limpair: `vlan:impair(port, spec)` — impairments on one port of a VLAN (netstack/impair.h), from a
 * table of options or a tc netem string — and their counters in the port's info. Module
 * "lemu.impair" adds the VLAN method. */
#include <lauxlib.h>
#include <string.h>

#include "clock.h"
#include "impair.h"
#include "limpair.h"
#include "lnet.h"
#include "lobj.h"
#include "port.h"

static const char *const KEYS[] = {
  "delay", "jitter", "distribution", "loss", "duplicate", "corrupt", "reorder", "rate", "overhead",
  "limit", "limit_bytes", "seed", "dir", "netem", NULL,
};
#define KEY_LIST "delay, jitter, distribution, loss, duplicate, corrupt, reorder, rate, overhead, " \
                 "limit, limit_bytes, seed, dir, netem"

/* A percentage option 0..100 -> 0..1. */
static double pct(lua_State *L, int idx, const char *key) {
  if (!lua_isnumber(L, idx)) luaL_error(L, "impair: %s=%s: a percentage (0 to 100) is a number", key, luaL_tolstring(L, idx, NULL));
  double v = lua_tonumber(L, idx);
  if (!(v >= 0 && v <= 100)) luaL_error(L, "impair: %s=%s: a percentage is 0 to 100", key, luaL_tolstring(L, idx, NULL));
  return v / 100.0;
}

/* Milliseconds -> ns (numbers), or tc's time strings ("50ms"). */
static uint64_t msec(lua_State *L, int idx, const char *key) {
  uint64_t ns;
  if (lua_type(L, idx) == LUA_TSTRING) {
    if (impair_parse_time(lobj_cstr(L, idx, key), &ns) < 0)
      luaL_error(L, "impair: %s=%s: not a time (a number of ms, or \"50ms\", \"1s\")", key, lua_tostring(L, idx));
    return ns;
  }
  if (!lua_isnumber(L, idx)) luaL_error(L, "impair: %s: a number of milliseconds", key);
  double v = lua_tonumber(L, idx);
  if (!(v >= 0 && v <= 3.6e6)) luaL_error(L, "impair: %s=%s: milliseconds from 0 to 3600000", key, luaL_tolstring(L, idx, NULL));
  return (uint64_t)(v * 1e6 + 0.5);
}

static void loss_model(lua_State *L, int idx, impair_cfg *c) {
  if (lua_type(L, idx) != LUA_TTABLE) { c->loss = pct(L, idx, "loss"); return; }
  /* {p=, r=, bad=, good=}: Gilbert-Elliott in percentages, tc's defaults for what is left out */
  c->burst = 1;
  c->ge_r = -1;
  c->ge_loss_bad = 1;
  static const char *const ge[] = {"p", "r", "bad", "good", NULL};
  double *dst[] = {&c->ge_p, &c->ge_r, &c->ge_loss_bad, &c->ge_loss_good};
  idx = lua_absindex(L, idx);
  lobj_check_keys(L, idx, "impair: loss={...}", ge, "p, r, bad, good");
  for (int k = 0; k < 4; k++) {
    if (lua_getfield(L, idx, ge[k]) != LUA_TNIL) {
      char key[16];
      snprintf(key, sizeof key, "loss.%s", ge[k]);
      *dst[k] = pct(L, -1, key);
    }
    lua_pop(L, 1);
  }
  if (c->ge_r < 0) c->ge_r = 1 - c->ge_p;
}

/* Seeds differ per port and direction unless given: the same script drops the same frames, and
 * the runtime's seed (-seed), when set, moves them all. */
static uint64_t name_seed(lemu_rt *rt, const net_port *p, int dir) {
  uint64_t h = 1469598103934665603ull;
  for (const char *s = p->name; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  if (clock_seeded(rt)) h ^= clock_seed(rt, "impair");
  return h ^ (uint64_t)dir;
}

static void from_table(lua_State *L, int t, impair_cfg *c, int *dirs) {
  lobj_check_keys(L, t, "impair", KEYS, KEY_LIST);
  char err[200];
  if (lua_getfield(L, t, "netem") != LUA_TNIL) {
    if (impair_parse(lobj_checkcstr(L, -1, "impair: netem="), c, err, sizeof err) < 0)
      luaL_error(L, "impair: netem=\"%s\": %s", lua_tostring(L, -1), err);
  }
  lua_pop(L, 1);
  if (lua_getfield(L, t, "delay") != LUA_TNIL) c->delay_ns = msec(L, -1, "delay");
  lua_pop(L, 1);
  if (lua_getfield(L, t, "jitter") != LUA_TNIL) c->jitter_ns = msec(L, -1, "jitter");
  lua_pop(L, 1);
  if (lua_getfield(L, t, "distribution") != LUA_TNIL) {
    const char *d = luaL_checkstring(L, -1);
    if (strcmp(d, "uniform") == 0) c->dist = IMPAIR_UNIFORM;
    else if (strcmp(d, "normal") == 0) c->dist = IMPAIR_NORMAL;
    else luaL_error(L, "impair: distribution=%s: lemu has uniform and normal", d);
  }
  lua_pop(L, 1);
  if (lua_getfield(L, t, "loss") != LUA_TNIL) loss_model(L, lua_gettop(L), c);
  lua_pop(L, 1);
  if (lua_getfield(L, t, "duplicate") != LUA_TNIL) c->duplicate = pct(L, -1, "duplicate");
  lua_pop(L, 1);
  if (lua_getfield(L, t, "corrupt") != LUA_TNIL) c->corrupt = pct(L, -1, "corrupt");
  lua_pop(L, 1);
  if (lua_getfield(L, t, "reorder") != LUA_TNIL) c->reorder = pct(L, -1, "reorder");
  lua_pop(L, 1);
  if (lua_getfield(L, t, "rate") != LUA_TNIL) {
    if (lua_type(L, -1) == LUA_TSTRING) {
      if (impair_parse_rate(lobj_cstr(L, -1, "impair: rate="), &c->rate_bps) < 0)
        luaL_error(L, "impair: rate=%s: not a rate (\"10mbit\", \"1gbit\", \"125kbps\" = bytes/s, or bits/s as a number)", lua_tostring(L, -1));
    } else {
      lua_Integer r = luaL_checkinteger(L, -1);
      if (r < 1 || r > 10000000000000ll) luaL_error(L, "impair: rate=%I: bits/s from 1 to 10^13", (lua_Integer)r);
      c->rate_bps = (uint64_t)r;
    }
  }
  lua_pop(L, 1);
  if (lua_getfield(L, t, "overhead") != LUA_TNIL) {
    lua_Integer o = luaL_checkinteger(L, -1);
    if (o < 0 || o > 1000) luaL_error(L, "impair: overhead=%I: 0 to 1000 bytes a frame", (lua_Integer)o);
    c->overhead = (uint32_t)o;
  }
  lua_pop(L, 1);
  if (lua_getfield(L, t, "limit") != LUA_TNIL) {
    lua_Integer l = luaL_checkinteger(L, -1);
    if (l < 1 || l > 1000000) luaL_error(L, "impair: limit=%I: 1 to 1000000 frames", (lua_Integer)l);
    c->limit = (uint32_t)l;
  }
  lua_pop(L, 1);
  if (lua_getfield(L, t, "limit_bytes") != LUA_TNIL) {
    lua_Integer l = luaL_checkinteger(L, -1);
    if (l < 1) luaL_error(L, "impair: limit_bytes=%I: at least 1", (lua_Integer)l);
    c->limit_bytes = (uint64_t)l;
  }
  lua_pop(L, 1);
  if (lua_getfield(L, t, "dir") != LUA_TNIL) {
    const char *d = luaL_checkstring(L, -1);
    if (strcmp(d, "out") == 0) *dirs = 2;
    else if (strcmp(d, "in") == 0) *dirs = 1;
    else if (strcmp(d, "both") == 0) *dirs = 3;
    else luaL_error(L, "impair: dir=%s: out (frames the port's owner sends), in (frames it receives) or both", d);
  }
  lua_pop(L, 1);
  if (c->reorder > 0 && !c->delay_ns) luaL_error(L, "impair: reorder needs a delay (frames it picks skip the delay)");
  if ((c->limit || c->limit_bytes || c->overhead) && !c->rate_bps)
    luaL_error(L, "impair: limit, limit_bytes and overhead bound the queue of a rate: give rate= too");
}

/* vlan:impair(port, spec): spec a table, a netem string, or nil/false to remove the port's
 * impairments (in the directions of dir=, default both when removing). */
static int vlan_impair(lua_State *L) {
  net_hub *h = lnet_checkvlan(L, 1);
  net_port *p = lnet_check_port(L, 2, h, "impair");
  int dirs = 2;                          /* bit 0: in, bit 1: out */
  impair_cfg c;
  memset(&c, 0, sizeof c);
  int has_seed = 0;
  if (lua_isnoneornil(L, 3) || (lua_isboolean(L, 3) && !lua_toboolean(L, 3))) {
    net_port_impair(p, 0, NULL);
    net_port_impair(p, 1, NULL);
    return 0;
  }
  if (lua_type(L, 3) == LUA_TSTRING) {
    char err[200];
    if (impair_parse(lobj_cstr(L, 3, "impair"), &c, err, sizeof err) < 0)
      return luaL_error(L, "impair: \"%s\": %s", lua_tostring(L, 3), err);
  } else {
    luaL_checktype(L, 3, LUA_TTABLE);
    from_table(L, 3, &c, &dirs);
    if (lua_getfield(L, 3, "seed") != LUA_TNIL) { c.seed = (uint64_t)luaL_checkinteger(L, -1); has_seed = 1; }
    lua_pop(L, 1);
  }
  for (int d = 0; d < 2; d++) {
    if (!(dirs & (1 << d))) continue;
    if (!has_seed) c.seed = name_seed(lstate_get(L)->rt, p, d);
    if (net_port_impair(p, d, &c) < 0) return luaL_error(L, "impair: out of memory");
  }
  return 0;
}

static void push_stats(lua_State *L, impair *im) {
  impair_stats st;
  impair_stats_get(im, &st);
  lua_createtable(L, 0, 9);
  const struct { const char *k; uint64_t v; } f[] = {
    {"passed", st.passed}, {"delayed", st.delayed}, {"lost", st.lost}, {"overflow", st.overflow},
    {"duplicated", st.duplicated}, {"corrupted", st.corrupted}, {"reordered", st.reordered},
    {"flushed", st.flushed}, {"in_flight", st.in_flight},
  };
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    lua_pushinteger(L, (lua_Integer)f[i].v);
    lua_setfield(L, -2, f[i].k);
  }
}

void limpair_push_info(lua_State *L, const net_port *p) {
  if (!p->imp[0] && !p->imp[1]) return;
  lua_createtable(L, 0, 2);
  if (p->imp[0]) { push_stats(L, p->imp[0]); lua_setfield(L, -2, "in"); }
  if (p->imp[1]) { push_stats(L, p->imp[1]); lua_setfield(L, -2, "out"); }
  lua_setfield(L, -2, "impair");
}

int luaopen_lemu_impair(lua_State *L) {
  lnet_vlan_method(L, "impair", vlan_impair);
  lua_newtable(L);
  return 1;
}
