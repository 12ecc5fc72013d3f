/* lswitch: the VLAN methods of a learning switch (vlan:access, trunk, fdb, flush, switch_info). */
#ifndef LEMU_LSWITCH_H
#define LEMU_LSWITCH_H

#include <lua.h>

int luaopen_lemu_switch(lua_State *L);

#endif
