/* fuzz_lua.h: the Lua state the Lua-layer fuzz targets (opts, rules) drive: Lua 5.4's libraries
 * and the lemu module bound to rt, registered as package.loaded.lemu so `require "lemu"` finds it,
 * as lemu's host program has it. Aborts if it cannot be made (the target cannot run). */
#ifndef LEMU_FUZZ_LUA_H
#define LEMU_FUZZ_LUA_H

#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>

#include "lemu.h"

/* Lua source for the rule both targets hold a refusal to: check(where, e, given) raises a
 * "FINDING ..." error unless e (a usage error or a string) is a message with text that is not
 * one of Lua's own ("attempt to ...", "bad argument #...": lemu code misusing a value), unless
 * the text given to the parser already held those words. Needs `cmdline` in scope. */
#define FUZZ_LUA_CHECK \
  "local function check(where, e, given)\n" \
  "  local msg = cmdline.is_usage_error(e) and e.msg or e\n" \
  "  if type(msg) ~= 'string' then error('FINDING ' .. where .. ': an error that is not a message: ' .. type(msg), 0) end\n" \
  "  if not msg:find('%S') then error('FINDING ' .. where .. ': an error with no text', 0) end\n" \
  "  for _, bad in ipairs { 'attempt to ', 'bad argument #', 'stack overflow', '%(a nil value%)' } do\n" \
  "    if msg:find(bad) and not given:find(bad) then\n" \
  "      error('FINDING ' .. where .. ': Lua error from lemu code: ' .. msg, 0)\n" \
  "    end\n" \
  "  end\n" \
  "end\n"

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
