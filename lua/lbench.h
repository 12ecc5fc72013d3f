/* lbench: C-level benchmark drivers for scripts/bench (module "lemu.bench"). They are built into
 * the host program only, not the shipped Lua module: lua/main.c preloads the module. */
#ifndef LEMU_LBENCH_H
#define LEMU_LBENCH_H

#include <lua.h>

int luaopen_lemu_bench(lua_State *L);
/* bench.usernet_ping(n) -> seconds, replies (lua/luserbench.c). */
int lbench_usernet_ping(lua_State *L);

#endif
