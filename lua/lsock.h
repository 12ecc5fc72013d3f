/* lsock: the C half of the socket backends' Lua binding (module "lemu.csock"). */
#ifndef LEMU_LSOCK_H
#define LEMU_LSOCK_H

#include <lua.h>

int luaopen_lemu_csock(lua_State *L);

#endif
