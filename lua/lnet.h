/* lnet: the Lua side of the netstack — VLAN handles and what backends share. Each backend
 * (endpoint, user, socket, tap, vde, capture) lives in its own lua/l*.c, registers its opener in
 * lcore.c's cmodules list and adds its constructor to VLANs with lnet_vlan_method. */
#ifndef LEMU_LNET_H
#define LEMU_LNET_H

#include <lua.h>
#include <stdint.h>

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

/* The next default MAC of this runtime: 52:54:00:12:34:56 and upwards, as QEMU numbers NICs,
 * skipping any already claimed. */
void lnet_default_mac(lua_State *L, uint8_t mac[6]);
/* Records an explicitly given MAC as in use (so defaults avoid it); returns 1 if it already was. */
int lnet_claim_mac(lua_State *L, const uint8_t mac[6]);
/* Parses "52:54:00:12:34:56" (or '-' separated) into mac; returns 0, or -1 if malformed. */
int lnet_parse_mac(const char *s, uint8_t mac[6]);
/* Finds the port of hub h named name (NULL if none). */
net_port *lnet_find_port(net_hub *h, const char *name);

/* Backends whose ports carry more state (a socket's peer, its wire counters) register a function
 * per port kind; lnet_push_port_info calls it with the info table on top of the stack. */
typedef void (*lnet_info_fn)(lua_State *L, const net_port *p);
void lnet_register_info(const char *kind, lnet_info_fn fn);

int luaopen_lemu_net(lua_State *L);

/* The port at idx on h: a port name, an endpoint, or a device handle (a table whose name is its
 * port's); raises an error starting with what otherwise. */
net_port *lnet_check_port(lua_State *L, int idx, net_hub *h, const char *what);

#endif
