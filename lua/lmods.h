/* lmods: the C halves of lemu's Lua modules, and the Lua sources built into the binary. */
#ifndef LEMU_LMODS_H
#define LEMU_LMODS_H

#include <lua.h>
#include <stddef.h>

int luaopen_lemu_core(lua_State *L);
int luaopen_lemu_stream(lua_State *L);
int luaopen_lemu_usernet(lua_State *L);

/* Generated from the files in lua/lemu/ by scripts/embed.lua; terminated by a NULL name. */
struct lsrc { const char *name; const char *src; size_t len; };
extern const struct lsrc lemu_lua_sources[];

#endif
