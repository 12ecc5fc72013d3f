/* lobj: Lua handles for C objects, the live table that anchors them, and C-to-Lua callbacks. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "lobj.h"
#include "rt.h"

static const char LIVE[] = "lemu.live";
static const char STATE[] = "lemu.state";
static const char PENDING[] = "lemu.pending";

typedef struct lobj { void *p; } lobj;

lstate *lstate_get(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, STATE);
  lstate *s = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!s) luaL_error(L, "lemu is not initialised in this Lua state");
  return s;
}

static void push_live(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, LIVE) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, LIVE);
  }
}

void lobj_new(lua_State *L, const char *tname, void *p) {
  lobj *o = lua_newuserdatauv(L, sizeof *o, 1);
  o->p = p;
  luaL_setmetatable(L, tname);
  push_live(L);
  lua_pushlightuserdata(L, p);
  lua_pushvalue(L, -3);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

void *lobj_checkopen(lua_State *L, int idx, const char *tname, int *closed) {
  lobj *o = luaL_checkudata(L, idx, tname);
  if (closed) *closed = o->p == NULL;
  return o->p;
}

void *lobj_check(lua_State *L, int idx, const char *tname) {
  lobj *o = luaL_checkudata(L, idx, tname);
  if (!o->p) {
    luaL_getmetafield(L, idx, "__what");
    luaL_error(L, "attempt to use a closed %s", lua_tostring(L, -1));
  }
  return o->p;
}

void lobj_push(lua_State *L, void *p) {
  push_live(L);
  lua_pushlightuserdata(L, p);
  lua_rawget(L, -2);
  lua_remove(L, -2);
}

void lobj_forget(lua_State *L, void *p) {
  push_live(L);
  lua_pushlightuserdata(L, p);
  if (lua_rawget(L, -2) == LUA_TUSERDATA) {
    lobj *o = lua_touserdata(L, -1);
    o->p = NULL;
  }
  lua_pop(L, 1);
  lua_pushlightuserdata(L, p);
  lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

static int obj_tostring(lua_State *L) {
  lobj *o = lua_touserdata(L, 1);
  luaL_getmetafield(L, 1, "__what");
  if (o && o->p) lua_pushfstring(L, "lemu %s (%p)", lua_tostring(L, -1), o->p);
  else lua_pushfstring(L, "lemu %s (closed)", lua_tostring(L, -1));
  return 1;
}

static int obj_closed(lua_State *L) {
  lobj *o = lua_touserdata(L, 1);
  lua_pushboolean(L, !o || !o->p);
  return 1;
}

void lobj_class(lua_State *L, const char *tname, const char *what, const luaL_Reg *methods) {
  luaL_newmetatable(L, tname);
  luaL_setfuncs(L, methods, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
  lua_pushstring(L, what);
  lua_setfield(L, -2, "__what");
  lua_pushcfunction(L, obj_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushcfunction(L, obj_closed);
  lua_setfield(L, -2, "closed");
  lua_pop(L, 1);
}

const char *lobj_checkcstr(lua_State *L, int arg, const char *what) {
  luaL_checkstring(L, arg);
  return lobj_cstr(L, arg, what);
}

const char *lobj_optcstr(lua_State *L, int arg, const char *def, const char *what) {
  return lua_isnoneornil(L, arg) ? def : lobj_checkcstr(L, arg, what);
}

void lobj_check_keys(lua_State *L, int t, const char *what, const char *const valid[], const char *list) {
  t = lua_absindex(L, t);
  lua_pushnil(L);                      /* the least unknown key's name so far */
  int best = lua_gettop(L), best_is_str = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    int is_str = lua_type(L, -1) == LUA_TSTRING, known = 0;
    for (int i = 0; is_str && valid[i] && !known; i++) known = strcmp(lua_tostring(L, -1), valid[i]) == 0;
    if (known) continue;
    const char *name = luaL_tolstring(L, -1, NULL);
    if (lua_isnil(L, best) || is_str > best_is_str ||
        (is_str == best_is_str && strcmp(name, lua_tostring(L, best)) < 0)) {
      lua_replace(L, best);
      best_is_str = is_str;
    } else {
      lua_pop(L, 1);
    }
  }
  if (!lua_isnil(L, best))
    luaL_error(L, "%s: unknown option '%s' (valid: %s)", what, lua_tostring(L, best), list);
  lua_pop(L, 1);
}

const char *lobj_cstr(lua_State *L, int idx, const char *what) {
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  if (s && strlen(s) != len)
    luaL_error(L, "%s '%s...': holds a NUL byte (C would take only the part before it)", what, s);
  return s;
}

int lobj_closeall(lua_State *L) {
  int n = 0;
  for (;;) {
    push_live(L);
    lua_pushnil(L);
    if (!lua_next(L, -2)) { lua_pop(L, 1); break; }
    /* stack: live key handle */
    void *key = lua_touserdata(L, -2);
    if (luaL_getmetafield(L, -1, "close") == LUA_TFUNCTION) {
      lua_pushvalue(L, -2);
      if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);
    }
    /* If close did not forget it (a bug elsewhere), drop it so the loop ends. */
    lobj_forget(L, key);
    lua_pop(L, 3);
    n++;
  }
  return n;
}

int lref(lua_State *L, int idx) {
  lua_pushvalue(L, idx);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

void lunref(lua_State *L, int ref) {
  if (ref != LUA_NOREF && ref != LUA_REFNIL) luaL_unref(L, LUA_REGISTRYINDEX, ref);
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg) luaL_traceback(L, L, msg, 1);
  else if (!lua_isnoneornil(L, 1)) lua_settop(L, 1); /* keep error objects (tables) as they are */
  else lua_pushliteral(L, "(error object is nil)");
  return 1;
}

void lcall_error(lua_State *L) {
  /* Keep the first error: later ones are usually consequences of it. */
  if (lua_getfield(L, LUA_REGISTRYINDEX, PENDING) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, PENDING);
  } else {
    lua_pop(L, 2);
  }
  lemu_rt_stop(lstate_get(L)->rt);
}

void lcall(lua_State *L, int ref, int nargs) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, traceback);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_rotate(L, base + 1, 2); /* handler, function, args... */
  if (lua_pcall(L, nargs, 0, base + 1) != LUA_OK) lcall_error(L);
  lua_settop(L, base);
}
