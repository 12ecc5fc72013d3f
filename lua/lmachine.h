/* lmachine: the C half of lemu.machine — machine handles over board/machine.h and the host
 * terminal (board/mterm.h). The Lua half (lua/lemu/machine.lua) builds consoles and waits on it. */
#ifndef LEMU_LMACHINE_H
#define LEMU_LMACHINE_H

#include <lua.h>

int luaopen_lemu_cmachine(lua_State *L);
/* The machine behind the machine handle at idx (raises for a closed one). */
struct machine *lmachine_check(lua_State *L, int idx);

#endif
