/* lcapture: pcap captures and Lua taps on VLANs and ports (adds vlan:capture and vlan:tap). */
#ifndef LEMU_LCAPTURE_H
#define LEMU_LCAPTURE_H

#include <lua.h>

int luaopen_lemu_capture(lua_State *L);

#endif
