/* lmachine: `lemu.cmachine` — new(opts, on_console, on_exit) makes a machine handle; its methods
 * start, pause, resume, reset, stop, close and inspect it, send console input, and attach the host
 * terminal. Console output and the exit reach Lua through lcall, between slices. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmachine.h"
#include "lobj.h"
#include "machine.h"
#include "mterm.h"

#define MACHINE "lemu.cmachine"

typedef struct lmachine {
  machine *m;
  lstate *s;
  int on_console, on_exit, on_quit, on_monitor;
  mterm *term;
} lmachine;

static void hook_console(void *ud, const uint8_t *buf, size_t len) {
  lmachine *lm = ud;
  if (lm->s->closing || lm->on_console == LUA_NOREF) return;
  lua_State *L = lm->s->L;
  lua_pushlstring(L, (const char *)buf, len);
  lcall(L, lm->on_console, 1);
}

static void hook_exit(void *ud, int status) {
  lmachine *lm = ud;
  if (lm->s->closing || lm->on_exit == LUA_NOREF) return;
  lua_State *L = lm->s->L;
  lua_pushinteger(L, status);
  const char *why = machine_stall_reason(lm->m);
  if (why) lua_pushstring(L, why);
  else lua_pushnil(L);
  lcall(L, lm->on_exit, 2);
}

static const char *optstr(lua_State *L, int t, const char *k) {
  int ty = lua_getfield(L, t, k);
  const char *v = NULL;
  if (ty == LUA_TSTRING) v = lobj_cstr(L, -1, k);
  else if (ty != LUA_TNIL) luaL_error(L, "lemu.machine: option '%s' must be a string, got %s", k,
                                      lua_typename(L, ty));
  lua_pop(L, 1);  /* the string stays alive in the options table */
  return v;
}

static lua_Integer optint(lua_State *L, int t, const char *k, lua_Integer def) {
  int ty = lua_getfield(L, t, k);
  lua_Integer v = def;
  if (ty == LUA_TNUMBER && lua_isinteger(L, -1)) v = lua_tointeger(L, -1);
  else if (ty != LUA_TNIL) luaL_error(L, "lemu.machine: option '%s' must be an integer", k);
  lua_pop(L, 1);
  return v;
}

static int lm_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  machine_config cfg = {0};
  cfg.type = optstr(L, 1, "type");
  cfg.ram_size = (uint64_t)optint(L, 1, "ram_bytes", 0);
  cfg.smp = (int)optint(L, 1, "smp", 1);
  cfg.bios = optstr(L, 1, "bios");
  cfg.kernel = optstr(L, 1, "kernel");
  cfg.initrd = optstr(L, 1, "initrd");
  cfg.append = optstr(L, 1, "append");
  cfg.dtb = optstr(L, 1, "dtb");
  cfg.accel = optstr(L, 1, "accel");
  if (cfg.smp < 1) {  /* 0 would mean "the default" to machine_new */
    lua_pushnil(L);
    lua_pushfstring(L, "-smp %d: lemu supports 1 to %d harts", cfg.smp, MACHINE_MAX_HARTS);
    return 2;
  }
  lmachine *lm = calloc(1, sizeof *lm);
  if (!lm) return luaL_error(L, "out of memory");
  lm->s = lstate_get(L);
  lm->on_console = lua_isfunction(L, 2) ? lref(L, 2) : LUA_NOREF;
  lm->on_exit = lua_isfunction(L, 3) ? lref(L, 3) : LUA_NOREF;
  lm->on_quit = LUA_NOREF;
  lm->on_monitor = LUA_NOREF;
  machine_hooks h = {lm, hook_console, hook_exit, NULL};
  char err[1024];
  lm->m = machine_new(lm->s->rt, &cfg, &h, err, sizeof err);
  if (!lm->m) {
    lunref(L, lm->on_console);
    lunref(L, lm->on_exit);
    free(lm);
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lobj_new(L, MACHINE, lm);
  return 1;
}

static lmachine *check(lua_State *L) { return lobj_check(L, 1, MACHINE); }

machine *lmachine_check(lua_State *L, int idx) {
  return ((lmachine *)lobj_check(L, idx, MACHINE))->m;
}

static int lm_start(lua_State *L) {
  lmachine *lm = check(L);
  if (machine_start(lm->m) < 0) return luaL_error(L, "machine already started");
  return 0;
}
static int lm_pause(lua_State *L) { machine_pause(check(L)->m); return 0; }
static int lm_resume(lua_State *L) { machine_resume(check(L)->m); return 0; }
static int lm_stop(lua_State *L) {
  lmachine *lm = check(L);
  machine_stop(lm->m, (int)luaL_optinteger(L, 2, 0));
  return 0;
}

static int lm_reset(lua_State *L) {
  lmachine *lm = check(L);
  char err[1024];
  if (machine_reset(lm->m, err, sizeof err) < 0) return luaL_error(L, "reset: %s", err);
  return 0;
}

static int lm_state(lua_State *L) {
  static const char *const names[] = {"created", "running", "paused", "exited"};
  lua_pushstring(L, names[machine_state(check(L)->m)]);
  return 1;
}

static int lm_exit_status(lua_State *L) {
  lmachine *lm = check(L);
  if (machine_state(lm->m) != MACHINE_EXITED) return 0;
  lua_pushinteger(L, machine_exit_status(lm->m));
  return 1;
}

static int lm_send(lua_State *L) {
  lmachine *lm = check(L);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  machine_console_input(lm->m, (const uint8_t *)s, n);
  return 0;
}

static int lm_dtb(lua_State *L) {
  size_t n;
  const void *d = machine_dtb(check(L)->m, &n);
  lua_pushlstring(L, d, n);
  return 1;
}

static int lm_info(lua_State *L) {
  lmachine *lm = check(L);
  lua_createtable(L, 0, 6);
  lua_pushstring(L, machine_type(lm->m));
  lua_setfield(L, -2, "type");
  lua_pushstring(L, machine_accel(lm->m));
  lua_setfield(L, -2, "accel");
  lua_pushinteger(L, machine_harts(lm->m));
  lua_setfield(L, -2, "smp");
  lua_pushinteger(L, (lua_Integer)machine_dtb_addr(lm->m));
  lua_setfield(L, -2, "dtb_addr");
  lua_pushinteger(L, (lua_Integer)machine_instret(lm->m));
  lua_setfield(L, -2, "instret");
  static const char *const runs[] = {"running", "wfi", "stopped"};
  static const char *const privs[] = {"U", "S", "?", "M"};
  lua_createtable(L, machine_harts(lm->m), 0);
  for (int i = 0; i < machine_harts(lm->m); i++) {
    uint64_t pc;
    int priv, run = machine_hart_state(lm->m, i, &pc, &priv);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)machine_hart_instret(lm->m, i));
    lua_setfield(L, -2, "instret");
    lua_pushinteger(L, (lua_Integer)pc);
    lua_setfield(L, -2, "pc");
    lua_pushstring(L, privs[priv & 3]);
    lua_setfield(L, -2, "priv");
    lua_pushstring(L, runs[run]);
    lua_setfield(L, -2, "state");
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "harts");
  return 1;
}

static int lm_serial_fd(lua_State *L) {
  machine_set_serial_fd(check(L)->m, (int)luaL_checkinteger(L, 2));
  return 0;
}

static void term_input(void *ud, const uint8_t *buf, size_t len) {
  lmachine *lm = ud;
  machine_console_input(lm->m, buf, len);
}

static void term_quit(void *ud) {
  lmachine *lm = ud;
  if (lm->s->closing || lm->on_quit == LUA_NOREF) return;
  lcall(lm->s->L, lm->on_quit, 0);
}

static void term_monitor(void *ud, const uint8_t *buf, size_t len) {
  lmachine *lm = ud;
  if (lm->s->closing || lm->on_monitor == LUA_NOREF) return;
  lua_pushstring(lm->s->L, "input");
  lua_pushlstring(lm->s->L, (const char *)buf, len);
  lcall(lm->s->L, lm->on_monitor, 2);
}

static void term_focus(void *ud, int monitor) {
  lmachine *lm = ud;
  if (lm->s->closing || lm->on_monitor == LUA_NOREF) return;
  lua_pushstring(lm->s->L, "focus");
  lua_pushboolean(lm->s->L, monitor);
  lcall(lm->s->L, lm->on_monitor, 2);
}

/* attach_stdin(escapes, on_quit[, on_monitor]): the host's stdin feeds the console. escapes: true
 * for QEMU's Ctrl-A escapes (on_quit runs on Ctrl-A x), "detach" for a raw terminal whose Ctrl-]
 * runs on_quit (m.console:attach()), false for none. With on_monitor, Ctrl-A c (with the escapes)
 * switches stdin between the console and the monitor, and without the escapes all of stdin goes to
 * the monitor: on_monitor("input", bytes) and on_monitor("focus", true|false). Returns false if
 * stdin is neither a terminal nor a pipe, and as second result whether it is a terminal. */
static int lm_attach_stdin(lua_State *L) {
  lmachine *lm = check(L);
  int detach = lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "detach") == 0;
  int escapes = !detach && lua_toboolean(L, 2);
  if (lm->term) return luaL_error(L, "stdin is already attached");
  lunref(L, lm->on_quit);
  lm->on_quit = LUA_NOREF;
  if (lua_isfunction(L, 3)) lm->on_quit = lref(L, 3);
  int monitor = lua_isfunction(L, 4);
  lunref(L, lm->on_monitor);
  lm->on_monitor = monitor ? lref(L, 4) : LUA_NOREF;
  mterm_hooks h = {lm, term_input, term_quit, monitor ? term_monitor : NULL, monitor ? term_focus : NULL,
                   detach ? term_quit : NULL};
  lm->term = mterm_open(lm->s->rt, 0, escapes, &h);
  lua_pushboolean(L, lm->term != NULL);
  lua_pushboolean(L, lm->term && mterm_is_tty(lm->term));
  return 2;
}

/* detach_stdin(): stdin stops feeding the console and the terminal gets its mode back. */
static int lm_detach_stdin(lua_State *L) {
  lmachine *lm = check(L);
  if (lm->term) mterm_close(lm->term);
  lm->term = NULL;
  return 0;
}

static int lm_close(lua_State *L) {
  int closed;
  lmachine *lm = lobj_checkopen(L, 1, MACHINE, &closed);
  if (closed) return 0;
  lobj_forget(L, lm);
  lunref(L, lm->on_console);
  lunref(L, lm->on_exit);
  lunref(L, lm->on_quit);
  lunref(L, lm->on_monitor);
  if (lm->term) mterm_close(lm->term);
  machine_close(lm->m);
  free(lm);
  return 0;
}

static const luaL_Reg methods[] = {
  {"start", lm_start}, {"pause", lm_pause}, {"resume", lm_resume}, {"reset", lm_reset},
  {"stop", lm_stop}, {"state", lm_state}, {"exit_status", lm_exit_status}, {"send", lm_send},
  {"dtb", lm_dtb}, {"info", lm_info}, {"serial_fd", lm_serial_fd},
  {"attach_stdin", lm_attach_stdin}, {"detach_stdin", lm_detach_stdin}, {"close", lm_close}, {NULL, NULL}
};

int luaopen_lemu_cmachine(lua_State *L) {
  static const luaL_Reg fns[] = {{"new", lm_new}, {NULL, NULL}};
  lobj_class(L, MACHINE, "machine", methods);
  luaL_newlib(L, fns);
  return 1;
}
