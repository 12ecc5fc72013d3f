/* test_embed: a program that embeds lemu through lemu.h alone — its own runtime bound to its own
 * Lua state — runs a scenario and tears both down with nothing left open. */
#include <lauxlib.h>
#include <lualib.h>

#include "ctest.h"
#include "lemu.h"
#include "rt.h"

TEST(embedder_owned_runtime_runs_lua_tasks) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lemu_lua_open(L, rt);
  lua_setglobal(L, "lemu");
  const char *code =
      "local t0 = lemu.now()\n"
      "local v = lemu.run(function() lemu.sleep(20) return 'ok' end)\n"
      "lemu.core.timer(100000, 0, function() end)\n"  /* left open: closing L must close it */
      "return v, lemu.now() - t0\n";
  CHECK_EQ(luaL_dostring(L, code), LUA_OK);
  CHECK(lua_tostring(L, -2) && lua_tostring(L, -2)[0] == 'o');
  CHECK(lua_tonumber(L, -1) >= 19);
  CHECK(rt_obj_count(rt) >= 1);
  lua_close(L);
  lemu_rt_run(rt, NULL, NULL);      /* let the closed handles finish */
  CHECK_EQ(rt_obj_count(rt), 0);
  lemu_rt_free(rt);
}

/* busted resets package.loaded between spec files: requiring lemu again in the same Lua state must
 * give the module bound to the state's one runtime, not fail or make a second runtime. */
TEST(require_again_after_package_loaded_reset_gives_the_same_module) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_lemu);
  lua_setfield(L, -2, "lemu");
  lua_pop(L, 1);
  const char *code =
      "local first = require 'lemu'\n"
      "package.loaded.lemu = nil\n"
      "local again = require 'lemu'\n"
      "return again == first, again.run(function() again.sleep(1) return 'ran' end)\n";
  int r = luaL_dostring(L, code);
  if (r != LUA_OK) printf("# %s\n", lua_tostring(L, -1));
  CHECK_EQ(r, LUA_OK);
  CHECK(lua_toboolean(L, -2));
  CHECK(lua_tostring(L, -1) && lua_tostring(L, -1)[0] == 'r');
  lua_close(L);
}
