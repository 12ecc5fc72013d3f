/* fuzz_rules: libFuzzer target for the option parsers that are pure functions of their text, fast
 * enough for long runs (the opts target applies whole command lines, each in a fresh runtime and
 * Lua state, at a few hundred inputs a second). The input is lines "KIND TEXT":
 *   opts TEXT      QemuOpts (cmdline.parse_opts), with and without an implied first key
 *   hostfwd RULE   a host forward rule as user:hostfwd_remove parses it (lua/luser.c)
 *   guestfwd RULE  a guest forward rule (user:_guestfwd_parse)
 *   netem SPEC     a tc netem string (netstack/impair.c impair_parse)
 *   time T / rate R  impair's times and rates
 * Lines of other kinds are skipped. One Lua state and one user-net (no forwards, so nothing binds)
 * serve every input: these parsers keep no state, so an input's result does not depend on the
 * ones before it. A refusal must be a message with text; a Lua error raised by lemu's own code
 * misusing a value ("attempt to ...", "bad argument #...") stops the run, as ASan and UBSan do. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impair.h"
#include "fuzz_lua.h"

static const char driver[] =
  "local input, u = ...\n"
  "local cmdline = require 'lemu.cmdline'\n"
  FUZZ_LUA_CHECK
  "local parsers = {\n"
  "  opts = function(s) cmdline.parse_opts(s) cmdline.parse_opts(s, 'type') end,\n"
  "  hostfwd = function(s) u:hostfwd_remove(s) end,\n"
  "  guestfwd = function(s) u:_guestfwd_parse(s) end,\n"
  "}\n"
  "for line in (input .. '\\n'):gmatch('([^\\n]*)\\n') do\n"
  "  local kind, text = line:match('^(%a+) (.*)$')\n"
  "  local parse = parsers[kind]\n"
  "  if parse then\n"
  "    local ok, e = pcall(parse, text)\n"
  "    if not ok then check(('%s %q'):format(kind, text), e, text) end\n"
  "  end\n"
  "end\n";

static lua_State *L;
static int driver_ref, user_ref;

static void setup(void) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);          /* lives as long as the process */
  if (!rt) { fprintf(stderr, "fuzz_rules: %s\n", err); abort(); }
  L = fuzz_lua_state(rt, 0);
  if (luaL_dostring(L, "return require('lemu').vlan('fuzz-rules'):user {}") != LUA_OK) {
    fprintf(stderr, "fuzz_rules: %s\n", lua_tostring(L, -1));
    abort();
  }
  user_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (luaL_loadbuffer(L, driver, sizeof driver - 1, "=fuzz_rules") != LUA_OK) abort();
  driver_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* impair's C parsers: a refusal must say why; an accepted spec must be one impair can run. */
static void c_parsers(const char *kind, const char *text) {
  if (!strcmp(kind, "netem")) {
    impair_cfg c;
    char err[256] = "";
    memset(&c, 0, sizeof c);
    if (impair_parse(text, &c, err, sizeof err) < 0 && !err[0]) {
      fprintf(stderr, "fuzz_rules: netem \"%s\" refused with no message\n", text);
      abort();
    }
  } else if (!strcmp(kind, "time")) {
    uint64_t ns;
    (void)impair_parse_time(text, &ns);
  } else if (!strcmp(kind, "rate")) {
    uint64_t bps;
    (void)impair_parse_rate(text, &bps);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) setup();
  /* The C parsers take C strings: one line at a time, NULs ending it early as C would. */
  char *copy = malloc(size + 1);
  if (!copy) return 0;
  memcpy(copy, data, size);
  copy[size] = 0;
  for (char *line = copy, *next; line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    char *sp = strchr(line, ' ');
    if (sp) { *sp = 0; c_parsers(line, sp + 1); }
  }
  free(copy);
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, driver_ref);
  lua_pushlstring(L, (const char *)data, size);
  lua_rawgeti(L, LUA_REGISTRYINDEX, user_ref);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    fputs("fuzz_rules: ", stderr);
    fwrite(msg ? msg : "(an error object)", 1, msg ? len : 17, stderr);
    fputc('\n', stderr);
    abort();
  }
  lua_settop(L, top);
  return 0;
}
