/* clint: the SiFive CLINT (msip per hart at 0x0, mtimecmp per hart at 0x4000, mtime at 0xbff8).
 * mtime comes from the owner's clock (hooks.now, in timebase ticks); the clint drives each hart's
 * software and timer interrupt lines and tells the owner when the earliest deadline changes, so the
 * owner can sleep until then instead of polling. */
#ifndef LEMU_CLINT_H
#define LEMU_CLINT_H

#include <stdint.h>

#include "bus.h"

typedef struct clint clint;

typedef struct clint_hooks {
  void *ud;
  uint64_t (*now)(void *ud);                        /* mtime, in timebase ticks */
  void (*msip)(void *ud, int hart, int level);
  void (*mtip)(void *ud, int hart, int level);
  void (*deadline)(void *ud);                       /* a mtimecmp changed: re-arm (may be NULL) */
} clint_hooks;

clint *clint_new(int nharts, const clint_hooks *h);
void clint_free(clint *c);
void clint_reset(clint *c);
/* Re-evaluates the timer lines against mtime; returns the earliest mtimecmp still in the future
 * (UINT64_MAX if none), which is when the owner must call clint_update next. */
uint64_t clint_update(clint *c);
/* The comparator of one hart (used by the built-in SBI's set_timer). */
void clint_set_mtimecmp(clint *c, int hart, uint64_t v);
uint64_t clint_get_mtimecmp(const clint *c, int hart);

extern const bus_dev_ops clint_ops;
#define CLINT_SIZE 0x10000
#define CLINT_TIMEBASE_HZ 10000000ull   /* QEMU virt's 10 MHz */

#endif
