/* limpair: impairments from Lua (vlan:impair) and their counters in a port's info table. */
#ifndef LEMU_LIMPAIR_H
#define LEMU_LIMPAIR_H

#include <lua.h>

#include "port.h"

int luaopen_lemu_impair(lua_State *L);
/* Adds impair = {in=, out=} counters to the table on top of the stack if p has stages. */
void limpair_push_info(lua_State *L, const net_port *p);

#endif
