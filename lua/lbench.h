/* lbench: C-level benchmark drivers for scripts/bench (module "lemu.bench"). */
#ifndef LEMU_LBENCH_H
#define LEMU_LBENCH_H

#include <lua.h>

int luaopen_lemu_bench(lua_State *L);

#endif
