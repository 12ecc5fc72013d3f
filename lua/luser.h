/* luser: the C half of `vlan:user` (lemu.usernet, opened through lmods.h). */
#ifndef LEMU_LUSER_H
#define LEMU_LUSER_H

#include <lua.h>


#endif
