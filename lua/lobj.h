/* lobj: Lua handles for C objects with explicit lifetimes.
 *
 * A handle is a full userdata holding a pointer to its C object. While the object is open the handle
 * is anchored in the registry's live table, so garbage collection never frees something the loop
 * still uses; closing clears the pointer, so using a closed handle is a Lua error, never a crash. */
#ifndef LEMU_LOBJ_H
#define LEMU_LOBJ_H

#include <lua.h>

/* The per-state binding: which runtime the module drives and the thread callbacks run on. */
typedef struct lstate {
  struct lemu_rt *rt;
  lua_State *L;      /* main thread */
  int owns_rt;
  int closing;       /* the Lua state is being closed: callbacks must not run */
} lstate;

lstate *lstate_get(lua_State *L);

/* Pushes a new handle of metatable tname (created by lobj_class) for p and anchors it. */
void lobj_new(lua_State *L, const char *tname, void *p);
/* Returns the object behind the handle at idx; raises "closed <what>" if it is closed. */
void *lobj_check(lua_State *L, int idx, const char *tname);
/* Like lobj_check but returns NULL for a closed handle. */
void *lobj_checkopen(lua_State *L, int idx, const char *tname, int *closed);
/* The object p has closed: clear its handle and drop the anchor. */
void lobj_forget(lua_State *L, void *p);
/* Pushes p's handle, or nil if p has none. */
void lobj_push(lua_State *L, void *p);
/* Registers a class: methods (with __index to itself), plus __tostring and `closed`. */
void lobj_class(lua_State *L, const char *tname, const char *what, const luaL_Reg *methods);
/* Closes every open handle by calling its close method; returns how many. */
int lobj_closeall(lua_State *L);

/* Strings handed to C (names, paths, rules), which end at the first NUL: "out.pcap\0x" must not
 * quietly become out.pcap. lobj_checkcstr / lobj_optcstr are luaL_checkstring / luaL_optstring
 * that also refuse a NUL inside; lobj_cstr checks the string (or number) at idx. Each refusal
 * names `what` ("hostfwd rule", "capture: file=") and the string up to its NUL. */
const char *lobj_checkcstr(lua_State *L, int arg, const char *what);
const char *lobj_optcstr(lua_State *L, int arg, const char *def, const char *what);
const char *lobj_cstr(lua_State *L, int idx, const char *what);

/* Raises "<what>: unknown option 'K' (valid: <list>)" if the table at t has a key that is not a
 * string of valid[] (NULL-terminated). With several unknown keys it names the least one (strings
 * first, in byte order, then other keys by their tostring), not the first that table order meets:
 * that order changes from run to run, and the same bad input must give the same error. */
void lobj_check_keys(lua_State *L, int t, const char *what, const char *const valid[], const char *list);

/* Reference a Lua value (the value at idx) / call a referenced function with nargs arguments
 * already pushed. Errors are reported to the runtime (see lcall_error) and stop the current run. */
int lref(lua_State *L, int idx);
void lunref(lua_State *L, int ref);
void lcall(lua_State *L, int ref, int nargs);
/* Records err (at the top of the stack, popped) as the runtime's pending error and stops the run. */
void lcall_error(lua_State *L);

#endif
