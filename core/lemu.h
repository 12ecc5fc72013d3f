/* lemu.h: the public C interface for programs that embed lemu.
 *
 * A runtime owns one libuv loop and every object that lives on it (timers, child processes, and in
 * later layers machines, VLANs and backends). All calls must be made from the thread that runs the
 * loop. Objects are closed explicitly or when their runtime is freed; nothing is freed behind a
 * caller's back. */
#ifndef LEMU_H
#define LEMU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LEMU_VERSION "0.1.0"

typedef struct lemu_rt lemu_rt;
typedef struct lemu_timer lemu_timer;
typedef struct lemu_proc lemu_proc;
struct lua_State;

/* Why lemu_rt_run returned. */
enum lemu_run_result {
  LEMU_RUN_DONE,      /* the until() condition became true */
  LEMU_RUN_STOPPED,   /* lemu_rt_stop was called */
  LEMU_RUN_IDLE,      /* nothing is left that could wake the loop */
  LEMU_RUN_SIGNAL     /* SIGINT or SIGTERM arrived: see lemu_rt_signal */
};

const char *lemu_version(void);

/* Returns NULL and sets *err (static text) when libuv cannot create the loop. */
lemu_rt *lemu_rt_new(const char **err);
/* Closes every object still open, runs their close callbacks, frees the loop. */
void lemu_rt_free(lemu_rt *rt);
/* Runs the loop until until(ud) is true (checked after every loop iteration; NULL: never), the
 * runtime is stopped, a signal arrives, or nothing is left to do. */
enum lemu_run_result lemu_rt_run(lemu_rt *rt, int (*until)(void *ud), void *ud);
/* Makes the current (or next) lemu_rt_run return LEMU_RUN_STOPPED. Safe inside callbacks. */
void lemu_rt_stop(lemu_rt *rt);
/* The signal that ended the last run (0 if none); cleared by the next run. */
int lemu_rt_signal(const lemu_rt *rt);
/* Nanoseconds since the runtime was created, monotonic. */
uint64_t lemu_rt_now_ns(const lemu_rt *rt);

/* Timers. The callback runs on the loop thread; the timer stays valid until lemu_timer_close. */
typedef void (*lemu_timer_cb)(lemu_timer *t, void *ud);
lemu_timer *lemu_timer_new(lemu_rt *rt, lemu_timer_cb cb, void *ud);
void lemu_timer_start(lemu_timer *t, uint64_t delay_ms, uint64_t repeat_ms);
void lemu_timer_stop(lemu_timer *t);
void lemu_timer_close(lemu_timer *t);

/* Child processes. stdio: the child's stdin is /dev/null; stdout and stderr are inherited unless
 * LEMU_PROC_QUIET. The exit callback runs once; the handle stays valid until lemu_proc_close, which
 * does not kill a running child (use lemu_proc_kill first). */
enum { LEMU_PROC_QUIET = 1 };
typedef void (*lemu_proc_exit_cb)(lemu_proc *p, int64_t status, int term_signal, void *ud);
lemu_proc *lemu_proc_spawn(lemu_rt *rt, const char *const *argv, const char *cwd, int flags,
                           lemu_proc_exit_cb cb, void *ud, char *err, int errlen);
int lemu_proc_pid(const lemu_proc *p);
int lemu_proc_kill(lemu_proc *p, int signum);
void lemu_proc_close(lemu_proc *p);

/* Lua. luaopen_lemu is what `require "lemu"` calls: it makes a runtime owned by the Lua state.
 * lemu_lua_open binds the module to a runtime the embedder owns instead (it must outlive L);
 * either pushes the module table. */
int luaopen_lemu(struct lua_State *L);
int lemu_lua_open(struct lua_State *L, lemu_rt *rt);

#ifdef __cplusplus
}
#endif
#endif
