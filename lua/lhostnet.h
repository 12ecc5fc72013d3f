/* lhostnet: Lua bindings of the host-side backends — TAP devices ("lemu.ctap") and VDE plugs
 * ("lemu.cvde"). */
#ifndef LEMU_LHOSTNET_H
#define LEMU_LHOSTNET_H

#include <lua.h>

#include "fdport.h"

int luaopen_lemu_ctap(lua_State *L);
int luaopen_lemu_cvde(lua_State *L);
/* Adds an fd-backed port's fields (connected, peer, to_peer, from_peer) to the table on top. */
void lhostnet_fdport_fields(lua_State *L, const net_fdport *fp);

#endif
