/* lendpoint: scripted endpoints — a port whose frames are sent and received by Lua. The C side owns
 * the port and bounds what Lua holds; lua/lemu/endpoint.lua builds `vlan:endpoint{}`, `ep:recv{}`
 * and the host helpers on top of it (module "lemu.cendpoint"). */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lendpoint.h"
#include "lnet.h"
#include "lobj.h"
#include "rt.h"

#define LEP "lemu.endpoint"

typedef struct lep {
  rt_obj obj;
  net_port port;
  uv_idle_t gone;     /* never started: closing it frees the endpoint after the loop iteration */
  lstate *s;
  int fn;             /* Lua function(frame) that takes each frame */
  unsigned held;      /* frames handed to Lua and not yet taken by a recv */
  unsigned limit;     /* bound on held; past it frames are dropped and counted in rx.drops */
  uint8_t mac[6];
} lep;

static int ep_receive(net_port *p, net_frame *f) {
  lep *e = p->owner;
  if (e->s->closing || e->held >= e->limit) return 0;
  e->held++;
  lua_State *L = e->s->L;
  lua_pushlstring(L, (const char *)f->data, f->len);
  lcall(L, e->fn, 1);
  return 1;
}

static const net_port_ops ep_ops = {"endpoint", ep_receive};

static void ep_freed(uv_handle_t *h) {
  lep *e = h->data;
  rt_obj_del(&e->obj);
  free(e);
}

static void ep_objclose(rt_obj *o) {
  lep *e = (lep *)o;
  net_port_detach(&e->port);
  uv_close((uv_handle_t *)&e->gone, ep_freed);
}

static const rt_objtype ep_type = {"endpoint", ep_objclose};

static void format_mac(char *buf, const uint8_t m[6]) {
  snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* new(vlan, opts, fn): opts.mac, opts.name, opts.queue; fn(frame) receives every frame. */
static int ep_new(lua_State *L) {
  net_hub *h = lnet_checkvlan(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  uint8_t mac[6];
  if (lua_getfield(L, 2, "mac") != LUA_TNIL) {
    const char *s = lua_tostring(L, -1);
    if (!s || lnet_parse_mac(s, mac) != 0)
      return luaL_error(L, "endpoint: mac '%s' is not a MAC address like 52:54:00:12:34:56",
                        s ? s : luaL_typename(L, -1));
    if (mac[0] & 1)
      return luaL_error(L, "endpoint: mac '%s' is a multicast address (the first byte is odd)", s);
    lnet_claim_mac(L, mac); /* reuse is allowed (a script may restart a guest), defaults avoid it */
  } else {
    lnet_default_mac(L, mac);
  }
  lua_pop(L, 1);
  lua_Integer limit = 1024;
  if (lua_getfield(L, 2, "queue") != LUA_TNIL) {
    int isnum;
    limit = lua_tointegerx(L, -1, &isnum);
    if (!isnum || limit < 1 || limit > 1000000)
      return luaL_error(L, "endpoint: queue=%s must be a number of frames from 1 to 1000000",
                        luaL_tolstring(L, -1, NULL));
  }
  lua_pop(L, 1);
  char name[48];
  if (lua_getfield(L, 2, "name") != LUA_TNIL) {
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (!s || len == 0 || len >= sizeof name)
      return luaL_error(L, "endpoint: name must be a string of 1 to 47 characters");
    snprintf(name, sizeof name, "%s", s);
  } else {
    format_mac(name, mac);
  }
  lua_pop(L, 1);

  lstate *s = lstate_get(L);
  lep *e = calloc(1, sizeof *e);
  if (!e) return luaL_error(L, "out of memory");
  e->s = s;
  e->limit = (unsigned)limit;
  memcpy(e->mac, mac, 6);
  e->fn = lref(L, 3);
  uv_idle_init(rt_loop(s->rt), &e->gone);
  e->gone.data = e;
  net_port_init(&e->port, &ep_ops, e, name);
  /* The endpoint keeps its own bounded queue (held): nothing waits at the port. */
  net_port_set_queue_limit(&e->port, 0);
  rt_obj_add(s->rt, &e->obj, &ep_type);
  net_port_attach(&e->port, h);
  lobj_new(L, LEP, e);
  return 1;
}

static lep *check_ep(lua_State *L) { return lobj_check(L, 1, LEP); }

static int ep_send(lua_State *L) {
  lep *e = check_ep(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  if (len < NET_FRAME_MIN || len > NET_FRAME_MAX)
    return luaL_error(L, "endpoint %s: send: a frame of %d bytes is %s an Ethernet frame (%d to %d bytes)",
                      e->port.name, (int)len, len < NET_FRAME_MIN ? "shorter than" : "longer than",
                      NET_FRAME_MIN, NET_FRAME_MAX);
  if (!e->port.hub) return luaL_error(L, "endpoint %s: send: not on a VLAN (it was closed)", e->port.name);
  lua_pushboolean(L, net_port_send(&e->port, data, len) == 0);
  return 1;
}

/* _taken(n): Lua took n frames out of its queue (or discarded them). */
static int ep_taken(lua_State *L) {
  lep *e = check_ep(L);
  lua_Integer n = luaL_optinteger(L, 2, 1);
  e->held = n >= (lua_Integer)e->held ? 0 : e->held - (unsigned)n;
  return 0;
}

static int ep_mac(lua_State *L) {
  lep *e = check_ep(L);
  char m[18];
  format_mac(m, e->mac);
  lua_pushstring(L, m);
  return 1;
}

static int ep_name(lua_State *L) {
  lua_pushstring(L, check_ep(L)->port.name);
  return 1;
}

static int ep_vlan(lua_State *L) {
  lep *e = check_ep(L);
  if (!e->port.hub) return 0;
  lnet_pushvlan(L, e->port.hub);
  return 1;
}

static int ep_info(lua_State *L) {
  lep *e = check_ep(L);
  lnet_push_port_info(L, &e->port);
  char m[18];
  format_mac(m, e->mac);
  lua_pushstring(L, m);
  lua_setfield(L, -2, "mac");
  lua_pushinteger(L, e->held);
  lua_setfield(L, -2, "queued");
  lua_pushinteger(L, e->limit);
  lua_setfield(L, -2, "queue_limit");
  return 1;
}

static int ep_set_link(lua_State *L) {
  lep *e = check_ep(L);
  net_port_set_link(&e->port, lua_toboolean(L, 2));
  return 0;
}

static int ep_close(lua_State *L) {
  int closed;
  lep *e = lobj_checkopen(L, 1, LEP, &closed);
  if (closed) return 0;
  lobj_forget(L, e);
  lunref(L, e->fn);
  e->fn = LUA_NOREF;
  rt_obj_close(&e->obj);
  return 0;
}

net_port *lendpoint_port(lua_State *L, int idx) {
  lep *e = lobj_check(L, idx, LEP);
  return &e->port;
}

int luaopen_lemu_cendpoint(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"send", ep_send}, {"_taken", ep_taken}, {"mac", ep_mac}, {"name", ep_name},
    {"vlan", ep_vlan}, {"info", ep_info}, {"set_link", ep_set_link}, {"close", ep_close},
    {NULL, NULL}
  };
  lobj_class(L, LEP, "endpoint", methods);
  lua_newtable(L);
  lua_pushcfunction(L, ep_new);
  lua_setfield(L, -2, "new");
  return 1;
}
