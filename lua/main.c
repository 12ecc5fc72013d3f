/* main: the host program. It owns the runtime and the Lua state, hands argv to lemu.main, and
 * tears both down in order so that every handle is closed before exit. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>

#include "lbench.h"
#include "lemu.h"

int luaopen_lemu_rl(lua_State *L);

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  lemu_rt *rt = lua_touserdata(L, 3);
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_lemu_rl);
  lua_setfield(L, -2, "lemu.rl");
  lua_pushcfunction(L, luaopen_lemu_bench);      /* for scripts/bench: not in the Lua module */
  lua_setfield(L, -2, "lemu.bench");
  lua_pop(L, 1);
  lemu_lua_open(L, rt); /* bound to our runtime, so `require "lemu"` must find this table */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_insert(L, -2);
  lua_setfield(L, -2, "lemu");
  lua_pop(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "lemu.main");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 0);
  for (int i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_call(L, 1, 1);
  return 1;
}

int main(int argc, char **argv) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  if (!rt) { fprintf(stderr, "lemu: %s\n", err); return 1; }
  lua_State *L = luaL_newstate();
  if (!L) { fprintf(stderr, "lemu: cannot create a Lua state\n"); return 1; }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  lua_pushlightuserdata(L, rt);
  int status = 1;
  if (lua_pcall(L, 3, 1, 0) != LUA_OK) fprintf(stderr, "lemu: %s\n", lua_tostring(L, -1));
  else status = (int)lua_tointeger(L, -1);
  fflush(stdout);
  lua_close(L);
  lemu_rt_free(rt);
  return status;
}
