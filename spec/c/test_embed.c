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
