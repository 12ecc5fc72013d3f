/* lcore: the `lemu.core` module (runtime, timers, processes, pending errors) and luaopen_lemu,
 * which binds a runtime to a Lua state and loads the Lua half of the module. */
#include <lauxlib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "lcapture.h"
#include "ldevices.h"
#include "lemu.h"
#include "lendpoint.h"
#include "limpair.h"
#include "lmods.h"
#include "lmachine.h"
#include "lnet.h"
#include "lobj.h"
#include "lsock.h"
#include "lswitch.h"
#include "pool.h"
#include "lhostnet.h"
#include "rt.h"

static const char PENDING[] = "lemu.pending";

/* C modules preloaded with the Lua ones; each later layer adds its opener here. */
static const luaL_Reg cmodules[] = {
  {"lemu.core", luaopen_lemu_core},
  {"lemu.net", luaopen_lemu_net},
  {"lemu.cmachine", luaopen_lemu_cmachine},
  {"lemu.cdevices", luaopen_lemu_cdevices},
  {"lemu.cendpoint", luaopen_lemu_cendpoint},
  {"lemu.csock", luaopen_lemu_csock},
  {"lemu.ctap", luaopen_lemu_ctap},
  {"lemu.cvde", luaopen_lemu_cvde},
  {"lemu.capture", luaopen_lemu_capture},
  {"lemu.impair", luaopen_lemu_impair},
  {"lemu.switch", luaopen_lemu_switch},
  {"lemu.stream.core", luaopen_lemu_stream},
  {"lemu.usernet", luaopen_lemu_usernet},
  {NULL, NULL}
};

/* ---- timers ---- */

#define TIMER "lemu.timer"

typedef struct ltimer {
  lemu_timer *t;
  lstate *s;
  int fn;
} ltimer;

static void ltimer_fire(lemu_timer *t, void *ud) {
  (void)t;
  ltimer *lt = ud;
  if (lt->s->closing) return;
  lua_State *L = lt->s->L;
  lobj_push(L, lt);
  lcall(L, lt->fn, 1);
}

static int timer_new(lua_State *L) {
  lua_Integer delay = luaL_checkinteger(L, 1);
  lua_Integer repeat = luaL_optinteger(L, 2, 0);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  int wall = lua_toboolean(L, 4);   /* on host time even with the virtual clock (guards) */
  luaL_argcheck(L, delay >= 0, 1, "delay must be >= 0 ms");
  luaL_argcheck(L, repeat >= 0, 2, "repeat must be >= 0 ms");
  lstate *s = lstate_get(L);
  ltimer *lt = calloc(1, sizeof *lt);
  if (!lt) return luaL_error(L, "out of memory");
  lt->s = s;
  lt->t = wall ? rt_wall_timer_new(s->rt, ltimer_fire, lt) : lemu_timer_new(s->rt, ltimer_fire, lt);
  if (!lt->t) { free(lt); return luaL_error(L, "out of memory"); }
  lt->fn = lref(L, 3);
  lobj_new(L, TIMER, lt);
  lemu_timer_start(lt->t, (uint64_t)delay, (uint64_t)repeat);
  return 1;
}

static int timer_start(lua_State *L) {
  ltimer *lt = lobj_check(L, 1, TIMER);
  lemu_timer_start(lt->t, (uint64_t)luaL_checkinteger(L, 2), (uint64_t)luaL_optinteger(L, 3, 0));
  return 0;
}

static int timer_stop(lua_State *L) {
  ltimer *lt = lobj_check(L, 1, TIMER);
  lemu_timer_stop(lt->t);
  return 0;
}

static int timer_close(lua_State *L) {
  int closed;
  ltimer *lt = lobj_checkopen(L, 1, TIMER, &closed);
  if (closed) return 0;
  lobj_forget(L, lt);
  lunref(L, lt->fn);
  lemu_timer_close(lt->t);
  free(lt);
  return 0;
}

static const luaL_Reg timer_methods[] = {
  {"start", timer_start}, {"stop", timer_stop}, {"close", timer_close}, {NULL, NULL}
};

/* ---- child processes ---- */

#define PROC "lemu.process"

typedef struct lproc {
  lemu_proc *p;
  lstate *s;
  int fn;
  int exited;
  lua_Integer status;
  int termsig;
} lproc;

static void lproc_exit(lemu_proc *p, int64_t status, int sig, void *ud) {
  (void)p;
  lproc *lp = ud;
  lp->exited = 1;
  lp->status = status;
  lp->termsig = sig;
  if (lp->s->closing || lp->fn == LUA_NOREF) return;
  lua_State *L = lp->s->L;
  lobj_push(L, lp);
  lua_pushinteger(L, status);
  lua_pushinteger(L, sig);
  lcall(L, lp->fn, 3);
}

static int proc_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int n = (int)luaL_len(L, 1);
  luaL_argcheck(L, n >= 1, 1, "argv must name a program");
  const char *cwd = NULL;
  int flags = 0;
  if (lua_istable(L, 2)) {
    if (lua_getfield(L, 2, "cwd") == LUA_TSTRING) cwd = lua_tostring(L, -1);
    if (lua_getfield(L, 2, "quiet") != LUA_TNIL && lua_toboolean(L, -1)) flags |= LEMU_PROC_QUIET;
  }
  const char **argv = lua_newuserdatauv(L, sizeof(char *) * (n + 1), 0);
  for (int i = 0; i < n; i++) {
    lua_geti(L, 1, i + 1);
    argv[i] = lua_tostring(L, -1);
    if (!argv[i]) return luaL_error(L, "argv[%d] is not a string", i + 1);
    lua_pop(L, 1); /* the string stays reachable through the argv table */
  }
  argv[n] = NULL;
  lstate *s = lstate_get(L);
  lproc *lp = calloc(1, sizeof *lp);
  if (!lp) return luaL_error(L, "out of memory");
  lp->s = s;
  lp->fn = lua_isfunction(L, 3) ? lref(L, 3) : LUA_NOREF;
  char err[256];
  lp->p = lemu_proc_spawn(s->rt, argv, cwd, flags, lproc_exit, lp, err, sizeof err);
  if (!lp->p) {
    lunref(L, lp->fn);
    free(lp);
    return luaL_error(L, "%s", err);
  }
  lobj_new(L, PROC, lp);
  return 1;
}

static int proc_pid(lua_State *L) {
  lproc *lp = lobj_check(L, 1, PROC);
  lua_pushinteger(L, lemu_proc_pid(lp->p));
  return 1;
}

static int proc_status(lua_State *L) {
  lproc *lp = lobj_check(L, 1, PROC);
  if (!lp->exited) return 0;
  lua_pushinteger(L, lp->status);
  lua_pushinteger(L, lp->termsig);
  return 2;
}

static int proc_kill(lua_State *L) {
  lproc *lp = lobj_check(L, 1, PROC);
  int sig = (int)luaL_optinteger(L, 2, SIGTERM);
  int r = lemu_proc_kill(lp->p, sig);
  lua_pushboolean(L, r == 0);
  return 1;
}

static int proc_close(lua_State *L) {
  int closed;
  lproc *lp = lobj_checkopen(L, 1, PROC, &closed);
  if (closed) return 0;
  lobj_forget(L, lp);
  lunref(L, lp->fn);
  if (!lp->exited) lemu_proc_kill(lp->p, SIGKILL);
  lemu_proc_close(lp->p);
  free(lp);
  return 0;
}

static const luaL_Reg proc_methods[] = {
  {"pid", proc_pid}, {"status", proc_status}, {"kill", proc_kill}, {"close", proc_close},
  {NULL, NULL}
};

/* ---- the loop ---- */

static int core_run(lua_State *L) {
  if (!lua_pushthread(L)) return luaL_error(L, "the loop can only run on the main thread, not inside a task");
  lua_pop(L, 1);
  lstate *s = lstate_get(L);
  static const char *const why[] = {"done", "stopped", "idle", "signal"};
  enum lemu_run_result r = lemu_rt_run(s->rt, NULL, NULL);
  lua_pushstring(L, why[r]);
  if (r == LEMU_RUN_SIGNAL) {
    int sig = lemu_rt_signal(s->rt);
    lua_pushstring(L, sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal");
    return 2;
  }
  return 1;
}

static int core_stop(lua_State *L) {
  lemu_rt_stop(lstate_get(L)->rt);
  return 0;
}

static int core_now(lua_State *L) {
  lua_pushnumber(L, (lua_Number)lemu_rt_now_ns(lstate_get(L)->rt) / 1e6);
  return 1;
}

/* ---- the clock ---- */

static const char *const CLOCK_KEYS[] = {"mode", "shift", "sleep", "quantum_us", "seed", "epoch", "workers", NULL};

static int clock_int(lua_State *L, const char *key, lua_Integer lo, lua_Integer hi) {
  int isint;
  lua_Integer v = lua_tointegerx(L, -1, &isint);
  if (!isint || v < lo || v > hi)
    return luaL_error(L, "lemu.clock: %s=%s: must be an integer from %I to %I", key,
                      luaL_tolstring(L, -1, NULL), lo, hi);
  return (int)v;
}

/* lemu.core.clock([opts]): sets what opts name (docs/time.md), then returns the clock's state. */
static int core_clock(lua_State *L) {
  lemu_rt *rt = lstate_get(L)->rt;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lemu_clock_config c;
    lemu_rt_get_clock(rt, &c);
    int workers = -1;
    lobj_check_keys(L, 1, "lemu.clock", CLOCK_KEYS, "mode, shift, sleep, quantum_us, seed, epoch, workers");
    /* In CLOCK_KEYS' order, not the table's: with two bad values the error is always the same. */
    for (int i = 0; CLOCK_KEYS[i]; i++) {
      const char *k = CLOCK_KEYS[i];
      if (lua_getfield(L, 1, k) == LUA_TNIL) { lua_pop(L, 1); continue; }
      if (!strcmp(k, "mode")) {
        const char *v = lua_tostring(L, -1);
        if (v && !strcmp(v, "virtual")) c.mode = LEMU_CLOCK_VIRTUAL;
        else if (v && !strcmp(v, "real")) c.mode = LEMU_CLOCK_REAL;
        else return luaL_error(L, "lemu.clock: mode=%s: must be \"real\" or \"virtual\"",
                               luaL_tolstring(L, -1, NULL));
      } else if (!strcmp(k, "shift")) {
        if (lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "auto")) c.shift = -1;
        else c.shift = clock_int(L, "shift", 0, 10);
      } else if (!strcmp(k, "sleep")) {
        if (!lua_isboolean(L, -1))
          return luaL_error(L, "lemu.clock: sleep=%s: must be true or false", luaL_tolstring(L, -1, NULL));
        c.sleep = lua_toboolean(L, -1);
      } else if (!strcmp(k, "workers")) {
        /* 0: one per host processor. Results do not depend on it (docs/time.md). */
        workers = clock_int(L, "workers", 0, POOL_MAX);
      } else if (!strcmp(k, "quantum_us")) {
        c.quantum_ns = (uint64_t)clock_int(L, "quantum_us", 1, 1000000) * 1000;
      } else if (!strcmp(k, "seed")) {
        int isint;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint) return luaL_error(L, "lemu.clock: seed=%s: must be an integer", luaL_tolstring(L, -1, NULL));
        c.has_seed = 1;
        c.seed = (uint64_t)v;
      } else {
        int isint;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint || v <= 0)
          return luaL_error(L, "lemu.clock: epoch=%s: must be Unix seconds (an integer > 0)",
                            luaL_tolstring(L, -1, NULL));
        c.epoch_s = v;
      }
      lua_pop(L, 1);
    }
    char err[256];
    if (lemu_rt_set_clock(rt, &c, err, sizeof err) < 0) return luaL_error(L, "lemu.clock: %s", err);
    if (workers >= 0) clock_set_workers(rt, workers);
  }
  lemu_clock_config c;
  lemu_rt_get_clock(rt, &c);
  lua_createtable(L, 0, 10);
  lua_pushstring(L, c.mode == LEMU_CLOCK_VIRTUAL ? "virtual" : "real");
  lua_setfield(L, -2, "mode");
  if (c.shift < 0) lua_pushstring(L, "auto");
  else lua_pushinteger(L, c.shift);
  lua_setfield(L, -2, "shift");
  lua_pushboolean(L, c.sleep);
  lua_setfield(L, -2, "sleep");
  lua_pushinteger(L, (lua_Integer)(c.quantum_ns / 1000));
  lua_setfield(L, -2, "quantum_us");
  if (c.has_seed) { lua_pushinteger(L, (lua_Integer)c.seed); lua_setfield(L, -2, "seed"); }
  lua_pushinteger(L, (lua_Integer)c.epoch_s);
  lua_setfield(L, -2, "epoch");
  lua_pushinteger(L, (lua_Integer)lemu_rt_quanta(rt));
  lua_setfield(L, -2, "quanta");
  lua_pushinteger(L, clock_workers(rt));
  lua_setfield(L, -2, "workers");
  lua_newtable(L);
  int n = 0;
  for (const char *part; (part = lemu_rt_nondeterministic(rt, n)); n++) {
    lua_pushstring(L, part);
    lua_rawseti(L, -2, n + 1);
  }
  lua_setfield(L, -2, "nondeterministic");
  lua_pushboolean(L, c.mode == LEMU_CLOCK_VIRTUAL && c.shift >= 0 && n == 0);
  lua_setfield(L, -2, "deterministic");
  return 1;
}

static int core_raise(lua_State *L) {
  lua_settop(L, 1);
  lcall_error(L);
  return 0;
}

static int core_take_error(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, PENDING);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, PENDING);
  return 1;
}

static int core_objects(lua_State *L) {
  lua_pushinteger(L, rt_obj_count(lstate_get(L)->rt));
  return 1;
}

static int core_closeall(lua_State *L) {
  lua_pushinteger(L, lobj_closeall(L));
  return 1;
}

int luaopen_lemu_core(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"timer", timer_new}, {"spawn", proc_spawn}, {"run", core_run}, {"stop", core_stop},
    {"now", core_now}, {"clock", core_clock}, {"raise", core_raise}, {"take_error", core_take_error},
    {"objects", core_objects}, {"closeall", core_closeall}, {NULL, NULL}
  };
  lobj_class(L, TIMER, "timer", timer_methods);
  lobj_class(L, PROC, "process", proc_methods);
  luaL_newlib(L, fns);
  lua_pushstring(L, LEMU_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}

/* ---- binding a runtime to a state ---- */

static int state_gc(lua_State *L) {
  lstate *s = lua_touserdata(L, 1);
  if (s->closing) return 0;
  lobj_closeall(L);
  s->closing = 1;
  if (s->owns_rt) lemu_rt_free(s->rt);
  s->rt = NULL;
  return 0;
}

static int load_embedded(lua_State *L) {
  const struct lsrc *m = lua_touserdata(L, lua_upvalueindex(1));
  char chunk[128];
  snprintf(chunk, sizeof chunk, "=[lemu]/%s.lua", m->name);
  if (luaL_loadbuffer(L, m->src, m->len, chunk) != LUA_OK) return lua_error(L);
  lua_pushstring(L, m->name);
  lua_call(L, 1, 1);
  return 1;
}

static int lemu_bind(lua_State *L, lemu_rt *rt, int owns) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "lemu.state") != LUA_TNIL)
    return luaL_error(L, "lemu is already open in this Lua state");
  lua_pop(L, 1);
  lstate *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  s->rt = rt;
  s->owns_rt = owns;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  s->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushcfunction(L, state_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, "lemu.state");

  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const luaL_Reg *m = cmodules; m->name; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  const struct lsrc *init = NULL;
  for (const struct lsrc *m = lemu_lua_sources; m->name; m++) {
    if (strcmp(m->name, "lemu") == 0) { init = m; continue; }
    lua_pushlightuserdata(L, (void *)m);
    lua_pushcclosure(L, load_embedded, 1);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
  if (!init) return luaL_error(L, "lemu was built without its Lua library");
  lua_pushlightuserdata(L, (void *)init);
  lua_pushcclosure(L, load_embedded, 1);
  lua_call(L, 0, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "lemu.module");
  return 1;
}

int lemu_lua_open(lua_State *L, lemu_rt *rt) { return lemu_bind(L, rt, 0); }

int luaopen_lemu(lua_State *L) {
  /* A second require in the same state (busted unloads modules between spec files) gets the same
   * module and runtime: one state drives one runtime. */
  if (lua_getfield(L, LUA_REGISTRYINDEX, "lemu.module") == LUA_TTABLE) return 1;
  lua_pop(L, 1);
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  if (!rt) return luaL_error(L, "lemu: %s", err);
  return lemu_bind(L, rt, 1);
}
