/* luser: the C half of `vlan:user` (lemu.usernet, opened through lmods.h) and its benchmark driver. */
#ifndef LEMU_LUSER_H
#define LEMU_LUSER_H

#include <lua.h>

/* usernet.bench_ping(n) -> seconds, replies (lua/luserbench.c). */
int luser_bench_ping(lua_State *L);

#endif
