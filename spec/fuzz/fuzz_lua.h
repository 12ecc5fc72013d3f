/* fuzz_lua.h: the Lua state the Lua-layer fuzz targets (opts, rules) drive: Lua 5.4's libraries
 * and the lemu module bound to rt, registered as package.loaded.lemu so `require "lemu"` finds it,
 * as lemu's host program has it. Aborts if it cannot be made (the target cannot run). */
#ifndef LEMU_FUZZ_LUA_H
#define LEMU_FUZZ_LUA_H

#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>

#include "lemu.h"

static lua_State *fuzz_lua_state(lemu_rt *rt) {
  lua_State *L = luaL_newstate();
  if (!L) abort();
  luaL_openlibs(L);
  lemu_lua_open(L, rt);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_insert(L, -2);
  lua_setfield(L, -2, "lemu");
  lua_pop(L, 1);
  return L;
}

#endif
