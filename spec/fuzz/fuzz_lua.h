/* fuzz_lua.h: the Lua state the Lua-layer fuzz targets (opts, rules) drive: Lua 5.4's libraries
 * and the lemu module bound to rt, registered as package.loaded.lemu so `require "lemu"` finds it,
 * as lemu's host program has it. Aborts if it cannot be made (the target cannot run).
 *
 * A target that opens one state per input (opts) gives it an arena instead of malloc: ASan's
 * allocator, with its stack traces and quarantine, made about half of such a run's time (the
 * module's bytecode undumped and its tables built, for every input). The arena keeps what ASan
 * would check in lemu's C code that reads Lua's memory: each block is followed by a poisoned
 * redzone, and a freed block stays poisoned, never reused, until the state closes (a read through a
 * stale pointer is a use-after-poison report within the input). Lua's own allocations are not
 * leak-checked either way (lua_close frees them all); lemu's own mallocs still go through ASan. */
#ifndef LEMU_FUZZ_LUA_H
#define LEMU_FUZZ_LUA_H

#include <lauxlib.h>
#include <lualib.h>
#include <sanitizer/asan_interface.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lemu.h"

/* Lua source for the rule both targets hold a refusal to: check(where, e, given) raises a
 * "FINDING ..." error unless e (a usage error or a string) is a message with text that is not
 * one of Lua's own ("attempt to ...", "bad argument #...": lemu code misusing a value), unless
 * the text given to the parser already held those words. Needs `cmdline` in scope. */
#define FUZZ_LUA_CHECK \
  "local function check(where, e, given)\n" \
  "  local msg = cmdline.is_usage_error(e) and e.msg or e\n" \
  "  if type(msg) ~= 'string' then error('FINDING ' .. where .. ': an error that is not a message: ' .. type(msg), 0) end\n" \
  "  if not msg:find('%S') then error('FINDING ' .. where .. ': an error with no text', 0) end\n" \
  "  for _, bad in ipairs { 'attempt to ', 'bad argument #', 'stack overflow', '%(a nil value%)' } do\n" \
  "    if msg:find(bad) and not given:find(bad) then\n" \
  "      error('FINDING ' .. where .. ': Lua error from lemu code: ' .. msg, 0)\n" \
  "    end\n" \
  "  end\n" \
  "end\n"

/* The arena: one reserved mapping, blocks bumped off it and 16-byte aligned, each followed by at
 * least FUZZ_ARENA_RZ poisoned bytes. Big enough for any input of 16 options (one takes about
 * 1 MiB); beyond it Lua gets NULL (its "not enough memory", a message the targets accept). The
 * mapping is poisoned a step at a time ahead of the blocks, not all at once: its shadow would
 * otherwise be 128 MiB of the process's memory. */
#define FUZZ_ARENA_SIZE ((size_t)1 << 30)
#define FUZZ_ARENA_STEP ((size_t)1 << 20)
#define FUZZ_ARENA_RZ 16
static struct { char *base; size_t used, live, poisoned; } fuzz_arena;

static inline size_t fuzz_arena_span(size_t n) { return (n + FUZZ_ARENA_RZ + 15) & ~(size_t)15; }

/* Makes sure the arena up to `end` is poisoned before a block there is unpoisoned. */
static inline void fuzz_arena_reach(size_t end) {
  while (fuzz_arena.poisoned < end) {
    ASAN_POISON_MEMORY_REGION(fuzz_arena.base + fuzz_arena.poisoned, FUZZ_ARENA_STEP);
    fuzz_arena.poisoned += FUZZ_ARENA_STEP;
  }
}

static inline void *fuzz_arena_alloc(void *ud, void *p, size_t osize, size_t nsize) {
  (void)ud;
  if (!p) osize = 0;                            /* then osize names the object's type, not a size */
  if (nsize == 0) {
    if (p) { ASAN_POISON_MEMORY_REGION(p, osize); fuzz_arena.live -= osize; }
    return NULL;
  }
  char *top = fuzz_arena.base + fuzz_arena.used;
  if (p && (char *)p + fuzz_arena_span(osize) == top) {  /* the newest block: resized in place */
    size_t used = (size_t)((char *)p - fuzz_arena.base) + fuzz_arena_span(nsize);
    if (used > FUZZ_ARENA_SIZE) return NULL;
    fuzz_arena_reach(used);
    ASAN_POISON_MEMORY_REGION(p, fuzz_arena_span(osize));
    ASAN_UNPOISON_MEMORY_REGION(p, nsize);
    fuzz_arena.used = used;
    fuzz_arena.live += nsize - osize;
  } else if (p && nsize <= osize) {             /* shrunk in place: the tail becomes redzone */
    ASAN_POISON_MEMORY_REGION((char *)p + nsize, osize - nsize);
    fuzz_arena.live -= osize - nsize;
  } else {
    size_t span = fuzz_arena_span(nsize);
    if (span > FUZZ_ARENA_SIZE - fuzz_arena.used) return NULL;
    fuzz_arena_reach(fuzz_arena.used + span);
    ASAN_UNPOISON_MEMORY_REGION(top, nsize);
    if (p) {
      memcpy(top, p, osize);
      ASAN_POISON_MEMORY_REGION(p, osize);
      fuzz_arena.live -= osize;
    }
    fuzz_arena.used += span;
    fuzz_arena.live += nsize;
    p = top;
  }
  return p;
}

static inline lua_State *fuzz_lua_newstate(int arena) {
  if (!arena) return luaL_newstate();
  if (!fuzz_arena.base) {
    fuzz_arena.base = mmap(NULL, FUZZ_ARENA_SIZE, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (fuzz_arena.base == MAP_FAILED) abort();
  }
  if (fuzz_arena.used) abort();                 /* one arena state at a time */
  return lua_newstate(fuzz_arena_alloc, NULL);
}

/* Closes a state fuzz_lua_state made with the arena; its blocks are all poisoned again by then,
 * and the arena starts over. */
static inline void fuzz_lua_close(lua_State *L) {
  lua_close(L);
  if (fuzz_arena.live) {
    fprintf(stderr, "fuzz_lua: %zu bytes still live in the arena after lua_close\n", fuzz_arena.live);
    abort();
  }
  fuzz_arena.used = 0;
}

/* arena: the state's memory comes from the arena above (a state per input) rather than malloc. */
static inline lua_State *fuzz_lua_state(lemu_rt *rt, int arena) {
  lua_State *L = fuzz_lua_newstate(arena);
  if (!L) abort();
  luaL_openlibs(L);
  lemu_lua_open(L, rt);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_insert(L, -2);
  lua_setfield(L, -2, "lemu");
  lua_pop(L, 1);
  return L;
}

#endif
