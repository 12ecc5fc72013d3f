/* lendpoint: scripted endpoints (ports driven by Lua) and the Lua module that makes them. */
#ifndef LEMU_LENDPOINT_H
#define LEMU_LENDPOINT_H

#include <lua.h>

#include "port.h"

/* The port behind the endpoint handle at idx (raises for a closed endpoint). */
net_port *lendpoint_port(lua_State *L, int idx);

int luaopen_lemu_cendpoint(lua_State *L);

#endif
