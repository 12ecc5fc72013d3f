/* lhostnet: Lua bindings of the host-side backends — TAP devices ("lemu.ctap") and VDE plugs
 * ("lemu.cvde"). */
#ifndef LEMU_LHOSTNET_H
#define LEMU_LHOSTNET_H

#include <lua.h>

#include "fdport.h"

int luaopen_lemu_ctap(lua_State *L);
int luaopen_lemu_cvde(lua_State *L);
/* Pushes the info table of an fd-backed port: the port's fields, connected, peer, to_peer, from_peer. */
void lhostnet_push_fdport(lua_State *L, const net_fdport *fp, const char *peer);

#endif
