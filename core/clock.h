/* clock: the runtime's one clock, and its seed.
 *
 * Real mode: host monotonic time since the runtime was made; timers are libuv timers.
 * Virtual mode (QEMU's -icount): time moves only as runners (machines) retire instructions, 2^shift
 * ns each, or, when no runner can run, jumps to the next deadline (sleep=off) or follows the host's
 * pace up to it (sleep=on). The clock runs the runners in the order they were added, each up to the
 * end of one quantum of virtual time, with the netstack held (clock_set_net); at the boundary the
 * held frames are delivered, then each runner's boundary hook (console output, exits) and the timers
 * now due run, in (deadline, arming order). Everything between boundaries is therefore a function
 * of the script and the seed, not of the host's speed. One quantum per loop iteration, so host
 * events and lemu_rt_run's condition are seen between quanta.
 *
 * The seed: every random choice a guest can see derives from the runtime's seed and a purpose
 * string (clock_seed), so one number fixes them all. */
#ifndef LEMU_CLOCK_H
#define LEMU_CLOCK_H

#include <stdint.h>
#include <uv.h>

#include "lemu.h"

typedef struct clock_state clock_state;

/* ---- timers ----
 * A timer is embedded by its owner. In real mode it is the libuv timer h; in virtual mode an entry
 * of the runtime's deadline heap. A wall timer (clock_timer_init_wall) always runs on host time:
 * for guards and housekeeping that must not depend on the guests. close() stops the timer and
 * closes h; done gets h once libuv has let go of it. */
typedef struct clock_timer clock_timer;
typedef void (*clock_timer_cb)(clock_timer *t);
struct clock_timer {
  uv_timer_t h;
  lemu_rt *rt;
  clock_timer_cb cb;
  void *data;
  uint64_t due, seq;      /* virtual mode: deadline and arming order */
  unsigned slot;          /* heap index + 1; 0 while not in the heap */
  int wall, weak;
};

void clock_timer_init(lemu_rt *rt, clock_timer *t, clock_timer_cb cb, void *data);
void clock_timer_init_wall(lemu_rt *rt, clock_timer *t, clock_timer_cb cb, void *data);
/* Arms (or re-arms) the timer delay_ns from now. */
void clock_timer_start(clock_timer *t, uint64_t delay_ns);
void clock_timer_stop(clock_timer *t);
int clock_timer_active(const clock_timer *t);
/* A weak timer never keeps a run going by itself (libuv's unref; in virtual mode the clock does
 * not advance just to reach it). */
void clock_timer_weak(clock_timer *t);
void clock_timer_close(clock_timer *t, uv_close_cb done);

/* ---- runners (virtual mode) ----
 * run(r, from, until): advance from virtual time `from` (the quantum's start) to `until`; return
 * the time at which the runner next needs the CPU: <= until if it can run on, a later deadline, or
 * UINT64_MAX when only a wake can make it run. While it runs it reports its progress with
 * clock_running_at, which is what lemu_rt_now_ns returns meanwhile (frame timestamps).
 * boundary(r), may be NULL: after the quantum's frames are delivered; may call into Lua. */
typedef struct clock_runner clock_runner;
typedef struct clock_runner_ops {
  uint64_t (*run)(clock_runner *r, uint64_t from, uint64_t until);
  void (*boundary)(clock_runner *r);
} clock_runner_ops;
struct clock_runner {
  const clock_runner_ops *ops;
  void *ud;
  lemu_rt *rt;
  uint64_t due;
  int index;              /* position in the runtime's list, -1 when not added */
};

void clock_runner_add(lemu_rt *rt, clock_runner *r, const clock_runner_ops *ops, void *ud);
void clock_runner_remove(clock_runner *r);
/* The runner can run now (an interrupt, a frame, a resume): it runs in the next quantum. */
void clock_runner_wake(clock_runner *r);
void clock_running_at(lemu_rt *rt, uint64_t t);

/* ---- the clock ---- */
clock_state *clock_new(lemu_rt *rt);
void clock_close(clock_state *c);     /* closes its handles; the loop's run lets them go */
void clock_free(clock_state *c);
uint64_t clock_now(const lemu_rt *rt);
int clock_virtual(const lemu_rt *rt);
int clock_shift(const lemu_rt *rt);
/* Host wall time in ns since the epoch, or in virtual mode the configured epoch plus guest time. */
uint64_t clock_wall_ns(const lemu_rt *rt, uint64_t guest_ns);
/* The netstack's part in a quantum, which core cannot call itself: registered once by it. Each
 * runner runs under hold() on its thread; take() then detaches what that thread held; on the
 * loop's thread put() appends the runners' sets in their order and release() delivers them. */
typedef struct clock_net_hooks {
  void (*hold)(void);
  void *(*take)(void);
  void (*put)(void *held);
  void (*release)(void);
} clock_net_hooks;
void clock_set_net(const clock_net_hooks *h);
/* The real clock with workers set above 1: a machine whose slice is due hands it to the clock,
 * which runs every slice handed in this loop iteration in parallel (ops->run, under holds as in a
 * quantum), delivers their frames, then calls ops->boundary for each on the loop's thread.
 * Returns 0 when slices are not batched (virtual clock, one worker): the caller runs its own. */
int clock_batch_add(lemu_rt *rt, clock_runner *r, const clock_runner_ops *ops, void *ud);
void clock_batch_remove(clock_runner *r);
/* Worker threads the runners of one quantum are spread over (1: the loop's thread alone). */
int clock_set_workers(lemu_rt *rt, int workers);
int clock_workers(const lemu_rt *rt);

/* A seed for one purpose ("virtio-rng", "rng-seed"), derived from the runtime's seed and the
 * number of seeds handed out before (so callers asking in a fixed order get fixed seeds); with no
 * seed set it is drawn from the host. */
uint64_t clock_seed(const lemu_rt *rt, const char *purpose);
int clock_seeded(const lemu_rt *rt);
/* A part that touches the host (a TAP, a socket peer, a host forward) makes virtual-time runs
 * non-deterministic: recorded for lemu_rt_clock_info, and warned about once per part. */
void clock_nondeterministic(lemu_rt *rt, const char *part);

#endif
