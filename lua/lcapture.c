/* lcapture: watching traffic — `vlan:capture{file=, snaplen=, port=}` writes pcap (netstack/pcap.c)
 * and `vlan:tap(fn, {port=})` calls Lua with every frame. Both watch a whole VLAN (every frame it
 * forwards) or one port on it (both directions). Module "lemu.capture" adds the VLAN methods. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "lendpoint.h"
#include "lnet.h"
#include "lobj.h"
#include "log.h"
#include "pcap.h"
#include "rt.h"

#define LCAP "lemu.capture"
#define LTAP "lemu.tap"

typedef struct lwatch {
  rt_obj obj;
  net_tap tap;
  uv_idle_t gone;       /* never started: closing it frees the watch after the loop iteration */
  net_hub *hub;         /* what is watched: a hub, or a port (NULL once it has gone) */
  net_port *port;
  lstate *s;
  net_pcap *pc;         /* capture */
  char file[256];
  char target[64];
  int fn;               /* Lua tap */
} lwatch;

static void watch_frame(net_tap *t, const net_frame *f, int dir) {
  lwatch *w = (lwatch *)((char *)t - offsetof(lwatch, tap));
  if (w->pc) {
    /* The first failure is said once, naming the file and why; the rest are counted (info). */
    if (net_pcap_write(w->pc, f) != 0 && net_pcap_errors(w->pc) == 1)
      log_warn("capture", "'%s': cannot write: %s; the capture stops here (later frames are counted in info().errors)",
               w->file, net_pcap_error(w->pc));
    return;
  }
  if (w->s->closing || w->fn == LUA_NOREF) return;
  lua_State *L = w->s->L;
  lua_pushlstring(L, (const char *)f->data, f->len);
  if (w->port) lua_pushstring(L, dir == 0 ? "rx" : "tx");
  else lua_pushnil(L);
  lcall(L, w->fn, 2);
}

static void watch_gone(net_tap *t) {
  lwatch *w = (lwatch *)((char *)t - offsetof(lwatch, tap));
  w->hub = NULL;
  w->port = NULL;
}

static void watch_freed(uv_handle_t *h) {
  lwatch *w = h->data;
  rt_obj_del(&w->obj);
  free(w);
}

static void watch_detach(lwatch *w) {
  if (w->port) net_port_remove_tap(w->port, &w->tap);
  else if (w->hub) net_hub_remove_tap(w->hub, &w->tap);
  w->hub = NULL;
  w->port = NULL;
}

static int watch_finish(lwatch *w) {
  watch_detach(w);
  int r = 0;
  if (w->pc) {
    r = net_pcap_close(w->pc);
    w->pc = NULL;
  }
  return r;
}

static void watch_objclose(rt_obj *o) {
  lwatch *w = (lwatch *)o;
  watch_finish(w);
  uv_close((uv_handle_t *)&w->gone, watch_freed);
}

static const rt_objtype capture_type = {"capture", watch_objclose};
static const rt_objtype tap_type = {"tap", watch_objclose};

/* Resolves opts.port (a port name or an endpoint handle; absent: the whole VLAN) on hub h. */
static net_port *opt_port(lua_State *L, int opts, net_hub *h, const char *what) {
  if (opts == 0 || lua_getfield(L, opts, "port") == LUA_TNIL) {
    if (opts) lua_pop(L, 1);
    return NULL;
  }
  net_port *p;
  if (lua_type(L, -1) == LUA_TSTRING) {
    p = lnet_find_port(h, lua_tostring(L, -1));
    if (!p) luaL_error(L, "%s: port=%s: no port of that name on VLAN %s", what, lua_tostring(L, -1), net_hub_name(h));
  } else if (luaL_testudata(L, -1, "lemu.endpoint")) {
    p = lendpoint_port(L, lua_gettop(L));
    if (p->hub != h) luaL_error(L, "%s: port=%s is not on VLAN %s", what, p->name, net_hub_name(h));
  } else {
    luaL_error(L, "%s: port= must be a port name or an endpoint, got %s", what, luaL_typename(L, -1));
    return NULL;
  }
  lua_pop(L, 1);
  return p;
}

static lwatch *watch_new(lua_State *L, net_hub *h, net_port *p, const rt_objtype *type) {
  lstate *s = lstate_get(L);
  lwatch *w = calloc(1, sizeof *w);
  if (!w) luaL_error(L, "out of memory");
  w->s = s;
  w->fn = LUA_NOREF;
  w->tap.fn = watch_frame;
  w->tap.gone = watch_gone;
  uv_idle_init(rt_loop(s->rt), &w->gone);
  w->gone.data = w;
  if (p) {
    w->port = p;
    snprintf(w->target, sizeof w->target, "port %s", p->name);
  } else {
    w->hub = h;
    snprintf(w->target, sizeof w->target, "vlan %s", net_hub_name(h));
  }
  rt_obj_add(s->rt, &w->obj, type);
  return w;
}

static void watch_attach(lwatch *w) {
  if (w->port) net_port_add_tap(w->port, &w->tap);
  else net_hub_add_tap(w->hub, &w->tap);
}

/* vlan:capture{file=, snaplen=65535, port=} */
static int vlan_capture(lua_State *L) {
  static const char *const valid[] = {"file", "snaplen", "port", NULL};
  net_hub *h = lnet_checkvlan(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lobj_check_keys(L, 2, "capture", valid, "file, snaplen, port");
  if (lua_getfield(L, 2, "file") != LUA_TSTRING)
    return luaL_error(L, "capture: file= must name the pcap file to write");
  const char *file = lobj_cstr(L, -1, "capture: file=");
  lua_Integer snaplen = 65535;
  if (lua_getfield(L, 2, "snaplen") != LUA_TNIL) {
    int isnum;
    snaplen = lua_tointegerx(L, -1, &isnum);
    if (!isnum || snaplen < 14 || snaplen > 262144)
      return luaL_error(L, "capture: snaplen=%s must be a number of bytes from 14 to 262144", luaL_tolstring(L, -1, NULL));
  }
  lua_pop(L, 1);
  net_port *p = opt_port(L, 2, h, "capture");
  char err[512];
  /* Records carry wall time: the host's, or with the virtual clock its epoch plus virtual time. */
  lemu_rt *rt = lstate_get(L)->rt;
  uint64_t now = lemu_rt_now_ns(rt);
  net_pcap *pc = net_pcap_open(file, (uint32_t)snaplen, (int64_t)(clock_wall_ns(rt, now) - now), err, sizeof err);
  if (!pc) return luaL_error(L, "capture: %s", err);
  lwatch *w = watch_new(L, h, p, &capture_type);
  w->pc = pc;
  snprintf(w->file, sizeof w->file, "%s", file);
  watch_attach(w);
  lobj_new(L, LCAP, w);
  return 1;
}

/* vlan:tap(fn, {port=}): fn(frame, dir) for every frame; dir is "rx"/"tx" on a port, nil on a VLAN. */
static int vlan_tap(lua_State *L) {
  static const char *const valid[] = {"port", NULL};
  net_hub *h = lnet_checkvlan(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  int opts = 0;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    lobj_check_keys(L, 3, "tap", valid, "port");
    opts = 3;
  }
  net_port *p = opt_port(L, opts, h, "tap");
  lwatch *w = watch_new(L, h, p, &tap_type);
  w->fn = lref(L, 2);
  watch_attach(w);
  lobj_new(L, LTAP, w);
  return 1;
}

static int watch_close(lua_State *L, const char *tname) {
  int closed;
  lwatch *w = lobj_checkopen(L, 1, tname, &closed);
  if (closed) return 0;
  lobj_forget(L, w);
  lunref(L, w->fn);
  w->fn = LUA_NOREF;
  uint64_t errors = w->pc ? net_pcap_errors(w->pc) : 0;
  char why[128];
  snprintf(why, sizeof why, "%s", w->pc && net_pcap_error(w->pc) ? net_pcap_error(w->pc) : "close failed");
  char file[256];
  snprintf(file, sizeof file, "%s", w->file);
  int r = watch_finish(w);
  rt_obj_close(&w->obj);
  if (r != 0)
    return luaL_error(L, "capture: '%s' is incomplete: %d frames could not be written (%s)", file, (int)errors, why);
  return 0;
}

static int cap_close(lua_State *L) { return watch_close(L, LCAP); }
static int tap_close(lua_State *L) { return watch_close(L, LTAP); }

static int cap_info(lua_State *L) {
  lwatch *w = lobj_check(L, 1, LCAP);
  lua_createtable(L, 0, 5);
  lua_pushstring(L, w->file);
  lua_setfield(L, -2, "file");
  lua_pushstring(L, w->target);
  lua_setfield(L, -2, "target");
  lua_pushboolean(L, w->hub || w->port);
  lua_setfield(L, -2, "attached");
  if (w->pc) {
    lua_pushinteger(L, (lua_Integer)net_pcap_frames(w->pc));
    lua_setfield(L, -2, "frames");
    lua_pushinteger(L, (lua_Integer)net_pcap_errors(w->pc));
    lua_setfield(L, -2, "errors");
    if (net_pcap_error(w->pc)) {
      lua_pushstring(L, net_pcap_error(w->pc));
      lua_setfield(L, -2, "error");
    }
  }
  return 1;
}

int luaopen_lemu_capture(lua_State *L) {
  static const luaL_Reg cap_methods[] = {{"close", cap_close}, {"info", cap_info}, {NULL, NULL}};
  static const luaL_Reg tap_methods[] = {{"close", tap_close}, {NULL, NULL}};
  lobj_class(L, LCAP, "capture", cap_methods);
  lobj_class(L, LTAP, "tap", tap_methods);
  lnet_vlan_method(L, "capture", vlan_capture);
  lnet_vlan_method(L, "tap", vlan_tap);
  lua_newtable(L);
  return 1;
}
