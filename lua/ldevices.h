/* ldevices: the C half of machine devices in Lua (virtio-net NICs, virtio-rng, virtio-blk). */
#ifndef LEMU_LDEVICES_H
#define LEMU_LDEVICES_H

#include <lua.h>

int luaopen_lemu_cdevices(lua_State *L);

#endif
