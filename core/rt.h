/* rt: the runtime's internals for lemu's own modules — the loop, and the registry of open objects
 * that lemu_rt_free closes. The public side is in lemu.h. */
#ifndef LEMU_RT_H
#define LEMU_RT_H

#include <uv.h>

#include "lemu.h"

/* Every long-lived object embeds an rt_obj and registers it, so that freeing the runtime can close
 * it. close() must start closing (libuv handles close asynchronously) and call rt_obj_del once the
 * object is gone; it is called at most once. */
typedef struct rt_obj rt_obj;
typedef struct rt_objtype {
  const char *name;
  void (*close)(rt_obj *o);
} rt_objtype;

struct rt_obj {
  const rt_objtype *type;
  lemu_rt *rt;
  rt_obj *prev, *next;
  int closing;
};

uv_loop_t *rt_loop(lemu_rt *rt);
/* The runtime's clock (clock.h). */
struct clock_state *rt_clock(lemu_rt *rt);
/* A timer on host time even when the clock is virtual (wall-clock guards). */
lemu_timer *rt_wall_timer_new(lemu_rt *rt, lemu_timer_cb cb, void *ud);
void rt_obj_add(lemu_rt *rt, rt_obj *o, const rt_objtype *type);
void rt_obj_del(rt_obj *o);
/* Starts closing o unless it already is; returns 0 if it was already closing. */
int rt_obj_close(rt_obj *o);
/* Number of open objects (for tests and leak checks). */
int rt_obj_count(const lemu_rt *rt);

#endif
