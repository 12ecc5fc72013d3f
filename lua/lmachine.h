/* lmachine: the C half of lemu.machine — machine handles over core/machine.h and the host
 * terminal (core/mterm.h). The Lua half (lua/lemu/machine.lua) builds consoles and waits on it. */
#ifndef LEMU_LMACHINE_H
#define LEMU_LMACHINE_H

#include <lua.h>

int luaopen_lemu_cmachine(lua_State *L);

#endif
