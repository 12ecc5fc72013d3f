/* lvde: `vlan:vde{url=, port=, group=, mode=}` (module "lemu.cvde"). */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "lhostnet.h"
#include "lnet.h"
#include "lobj.h"
#include "rt.h"
#include "vde.h"

#define LVDE "lemu.vde"


static int vde_new(lua_State *L) {
  net_hub *h = lnet_checkvlan(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  static const char *const keys[] = {"url", "port", "group", "mode", NULL};
  lobj_check_keys(L, 2, "vlan:vde", keys, "url, port, group, mode");
  lua_getfield(L, 2, "url");
  const char *url = lobj_cstr(L, -1, "vlan:vde: url=");
  if (!url) return luaL_error(L, "vlan:vde: url= is needed (a vde_switch directory or a vdeplug URL)");
  lua_getfield(L, 2, "port");
  lua_Integer port = luaL_optinteger(L, -1, 0);
  lua_getfield(L, 2, "group");
  const char *group = lobj_cstr(L, -1, "vlan:vde: group=");
  lua_getfield(L, 2, "mode");
  lua_Integer mode = 0;
  if (lua_type(L, -1) == LUA_TSTRING) {
    const char *m = lua_tostring(L, -1);
    char *end;
    mode = strtol(m, &end, 8);
    if (!*m || *end || mode < 0 || mode > 0777)
      return luaL_error(L, "vlan:vde: mode=%s: an octal permission like \"660\" (0 to 777)", m);
  } else if (!lua_isnil(L, -1)) {
    mode = luaL_checkinteger(L, -1);
    if (mode < 0 || mode > 0777) return luaL_error(L, "vlan:vde: mode=%d: a permission from 0 to 0777", (int)mode);
  }
  char err[512];
  net_vde *v = net_vde_open(lstate_get(L)->rt, h, url, (int)port, group, (unsigned)mode, err, sizeof err);
  if (!v) return luaL_error(L, "vlan:vde: %s", err);
  lobj_new(L, LVDE, v);
  return 1;
}

static int vde_info(lua_State *L) {
  net_vde *v = lobj_check(L, 1, LVDE);
  lnet_push_port_info(L, &net_vde_fdport(v)->port);
  return 1;
}

static int vde_lclose(lua_State *L) {
  int closed;
  net_vde *v = lobj_checkopen(L, 1, LVDE, &closed);
  if (closed) return 0;
  lobj_forget(L, v);
  net_vde_close(v);
  return 0;
}

int luaopen_lemu_cvde(lua_State *L) {
  static const luaL_Reg methods[] = {{"info", vde_info}, {"close", vde_lclose}, {NULL, NULL}};
  lobj_class(L, LVDE, "VDE plug", methods);
  lnet_vlan_method(L, "vde", vde_new);
  lua_newtable(L);
  return 1;
}
