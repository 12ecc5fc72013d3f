/* lnet: the Lua side of the netstack — VLAN handles and what backends share. Each backend
 * (endpoint, user, socket, tap, vde, capture) lives in its own lua/l*.c, registers its opener in
 * lcore.c's cmodules list and adds its constructor to VLANs with lnet_vlan_method. */
#ifndef LEMU_LNET_H
#define LEMU_LNET_H

#include <lua.h>

#include "port.h"

#define LNET_VLAN "lemu.vlan"

/* The hub behind the VLAN handle at idx (raises for a closed VLAN). */
net_hub *lnet_checkvlan(lua_State *L, int idx);
/* Pushes the handle of the VLAN whose hub is h. */
void lnet_pushvlan(lua_State *L, net_hub *h);
/* Adds method `name` to every VLAN handle (e.g. "user", "socket", "endpoint"). */
void lnet_vlan_method(lua_State *L, const char *name, lua_CFunction fn);
/* Pushes a table describing port p: kind, name, vlan, link, queued, rx/tx = {frames, bytes,
 * drops}. Backends add their own fields to it. */
void lnet_push_port_info(lua_State *L, const net_port *p);

int luaopen_lemu_net(lua_State *L);

#endif
