/* repl: the `lemu.rl` module — line editing for the host program's REPL through libedit in its
 * callback mode, fed by a libuv poll on stdin so the loop keeps running while the prompt waits.
 * When stdin is not a terminal, lines are read plainly and prompts are still printed. */
#include <editline/readline.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lobj.h"
#include "rt.h"

typedef struct rl {
  rt_obj obj;
  uv_poll_t poll;
  lstate *s;
  int fn;             /* on_line(line | nil) */
  int complete;       /* complete(word) -> {candidates} (LUA_NOREF: none) */
  int tty;
  int active;         /* a prompt is shown and input is being read */
  int polling;
  char *histfile;
  char pending[4096]; /* non-tty: bytes read but not yet a whole line */
  size_t npending;
} rl;

static rl *the_rl;    /* libedit's callback API has no user pointer: one REPL per process */

/* Ctrl-C during a chunk that never waits (a busy loop): the loop cannot see the signal, so, as
 * lua5.4 does, a handler in front of libuv's sets a hook on the chunk's coroutine that raises
 * "interrupted" at its next instruction. libuv's handler still runs after it: a chunk that waits
 * is cancelled by the REPL through the runtime's signal. */
static struct sigaction uv_sigint;       /* the handler before ours (libuv's) */
static int sigint_chained;
static lua_State *volatile guarded;      /* the running chunk's coroutine */
static volatile sig_atomic_t hook_fired;

static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  hook_fired = 1;
  luaL_error(L, "interrupted");
}

static void on_sigint(int sig, siginfo_t *info, void *uc) {
  lua_State *L = guarded;
  if (L) lua_sethook(L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
  if (uv_sigint.sa_flags & SA_SIGINFO) {
    if (uv_sigint.sa_sigaction) uv_sigint.sa_sigaction(sig, info, uc);
  } else if (uv_sigint.sa_handler != SIG_DFL && uv_sigint.sa_handler != SIG_IGN) {
    uv_sigint.sa_handler(sig);
  }
}

static void chain_sigint(int on) {
  if (on && !sigint_chained) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigint;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, &uv_sigint) == 0) sigint_chained = 1;
  } else if (!on && sigint_chained) {
    sigaction(SIGINT, &uv_sigint, NULL);
    sigint_chained = 0;
  }
}

/* rl.guard(): the calling coroutine (a chunk) is the one Ctrl-C interrupts. rl.unguard(): no
 * longer; returns true if the hook raised "interrupted" in it. */
static int l_guard(lua_State *L) {
  hook_fired = 0;
  guarded = L;
  return 0;
}

static int l_unguard(lua_State *L) {
  lua_State *g = guarded;
  guarded = NULL;
  if (g) lua_sethook(g, NULL, 0, 0);
  lua_pushboolean(L, hook_fired);
  hook_fired = 0;
  return 1;
}

static void deliver(const char *line) {
  rl *r = the_rl;
  if (!r || r->s->closing) return;
  lua_State *L = r->s->L;
  if (line) lua_pushstring(L, line);
  else lua_pushnil(L);
  lcall(L, r->fn, 1);
}

static void on_rl_line(char *line) {
  /* libedit: after a line is accepted the handler stays installed; the Lua side decides whether
   * to show the next prompt now or after the line's task ends. */
  if (the_rl) the_rl->active = 0;
  deliver(line);
  free(line);
}

/* Non-tty: hands over the first whole buffered line if a prompt is waiting; 1 if it did. */
static int take_line(rl *r) {
  char *nl = r->active ? memchr(r->pending, '\n', r->npending) : NULL;
  if (!nl) return 0;
  char line[sizeof r->pending];
  size_t len = (size_t)(nl - r->pending);
  memcpy(line, r->pending, len);
  line[len] = 0;
  memmove(r->pending, nl + 1, r->npending - len - 1);
  r->npending -= len + 1;
  r->active = 0;
  deliver(line);
  return 1;
}

static void read_plain(rl *r) {
  ssize_t n = read(0, r->pending + r->npending, sizeof r->pending - 1 - r->npending);
  if (n <= 0) {
    if (r->npending) { r->pending[r->npending] = 0; r->npending = 0; deliver(r->pending); }
    r->active = 0;
    deliver(NULL);
    return;
  }
  r->npending += (size_t)n;
  while (the_rl && take_line(r)) {}
  if (r->npending == sizeof r->pending - 1) { /* an over-long line: hand it over as it is */
    r->pending[r->npending] = 0;
    r->npending = 0;
    r->active = 0;
    deliver(r->pending);
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)status; (void)events;
  rl *r = h->data;
  if (!r->active) return;
  if (r->tty) rl_callback_read_char();
  else read_plain(r);
}

static void poll_on(rl *r, int on) {
  if (on && !r->polling) uv_poll_start(&r->poll, UV_READABLE, on_poll);
  if (!on && r->polling) uv_poll_stop(&r->poll);
  r->polling = on;
}

/* Completion: Tab asks the Lua side for the candidates for the word before the cursor (a Lua name
 * with its dots and colons: `lemu.vl`, `m.console:ex`), never for file names. */
static char **cands;
static size_t ncands;

static void free_cands(void) {
  for (size_t i = 0; i < ncands; i++) free(cands[i]);
  free(cands);
  cands = NULL;
  ncands = 0;
}

static char *cand_gen(const char *text, int state) {
  (void)text;
  return (size_t)state < ncands ? strdup(cands[state]) : NULL;
}

static char **complete(const char *text, int start, int end) {
  (void)start; (void)end;
  rl *r = the_rl;
  rl_attempted_completion_over = 1;  /* no fallback to file names */
  if (!r || r->complete == LUA_NOREF || r->s->closing) return NULL;
  lua_State *L = r->s->L;
  int top = lua_gettop(L);
  free_cands();
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->complete);
  lua_pushstring(L, text);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
    size_t n = (size_t)lua_rawlen(L, -1);
    cands = calloc(n ? n : 1, sizeof *cands);
    for (size_t i = 0; cands && i < n; i++) {
      lua_rawgeti(L, -1, (lua_Integer)i + 1);
      const char *c = lua_tostring(L, -1);
      if (c && (cands[ncands] = strdup(c))) ncands++;
      lua_pop(L, 1);
    }
  }
  lua_settop(L, top);
  if (ncands == 0) return NULL;
  return rl_completion_matches(text, cand_gen);
}

static void rl_closed(uv_handle_t *h) {
  rl *r = h->data;
  rt_obj_del(&r->obj);
  free(r->histfile);
  free(r);
}

static void rl_objclose(rt_obj *o) {
  rl *r = (rl *)o;
  if (r->tty) {
    rl_callback_handler_remove();
    if (r->histfile) write_history(r->histfile);
  }
  if (the_rl == r) the_rl = NULL;
  guarded = NULL;
  chain_sigint(0);
  if (!r->s->closing) lunref(r->s->L, r->complete);
  free_cands();
  uv_close((uv_handle_t *)&r->poll, rl_closed);
}

static const rt_objtype rl_type = {"repl", rl_objclose};

/* rl.start(on_line, histfile, complete) */
static int l_start(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  const char *hist = luaL_optstring(L, 2, NULL);
  int has_complete = lua_isfunction(L, 3);
  if (the_rl) return luaL_error(L, "the REPL is already running");
  lstate *s = lstate_get(L);
  rl *r = calloc(1, sizeof *r);
  if (!r) return luaL_error(L, "out of memory");
  r->s = s;
  r->tty = isatty(0);
  if (uv_poll_init(rt_loop(s->rt), &r->poll, 0) != 0) {
    free(r);
    return luaL_error(L, "cannot watch standard input");
  }
  r->poll.data = r;
  r->fn = lref(L, 1);
  r->complete = LUA_NOREF;
  if (has_complete) r->complete = lref(L, 3);
  rt_obj_add(s->rt, &r->obj, &rl_type);
  the_rl = r;
  chain_sigint(1);
  if (r->tty) {
    using_history();
    /* Words for completion run over dots and colons: a Lua name with its fields and methods. */
    rl_basic_word_break_characters = " \t\n\"'`@$><=;|&{(,+-*/%^~#[]()";
    rl_completer_word_break_characters = (char *)rl_basic_word_break_characters;
    rl_attempted_completion_function = complete;
    rl_completion_append_character = 0;
    if (hist) { r->histfile = strdup(hist); read_history(hist); }
  }
  lua_pushboolean(L, r->tty);
  return 1;
}

/* rl.prompt(p): show the prompt p and read the next line. */
static int l_prompt(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  rl *r = the_rl;
  if (!r) return 0;
  r->active = 1;
  if (r->tty) {
    rl_callback_handler_install(p, on_rl_line);
  } else {
    fputs(p, stdout);
    fflush(stdout);
    poll_on(r, 1);
    lua_pushboolean(L, memchr(r->pending, '\n', r->npending) != NULL);
    return 1; /* true: a whole line is already buffered; the caller drains it from the loop */
  }
  poll_on(r, 1);
  return 0;
}

/* Non-tty only: hand over a line that was already buffered. Returns true if it did. */
static int l_drain(lua_State *L) {
  rl *r = the_rl;
  lua_pushboolean(L, r && !r->tty && take_line(r));
  return 1;
}

/* rl.pause(): stop reading while a line's task runs. */
static int l_pause(lua_State *L) {
  (void)L;
  rl *r = the_rl;
  if (!r) return 0;
  r->active = 0;
  if (r->tty) rl_callback_handler_remove();
  poll_on(r, 0);
  return 0;
}

/* rl.clear(): drop the line being typed (Ctrl-C at the prompt). */
static int l_clear(lua_State *L) {
  (void)L;
  rl *r = the_rl;
  if (r && r->tty && r->active) rl_replace_line("", 0);
  return 0;
}

/* rl.print(s): write s without garbling a prompt that is being edited. */
static int l_print(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  rl *r = the_rl;
  if (r && r->tty && r->active) {
    fputs("\r\033[K", stdout);
    fwrite(s, 1, n, stdout);
    fflush(stdout);
    rl_forced_update_display();
  } else {
    fwrite(s, 1, n, stdout);
    fflush(stdout);
  }
  return 0;
}

static int l_add_history(lua_State *L) {
  const char *s = luaL_checkstring(L, 1);
  if (the_rl && the_rl->tty && *s) add_history(s);
  return 0;
}

static int l_stop(lua_State *L) {
  (void)L;
  if (the_rl) rt_obj_close(&the_rl->obj);
  return 0;
}

int luaopen_lemu_rl(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"start", l_start}, {"prompt", l_prompt}, {"pause", l_pause}, {"print", l_print},
    {"add_history", l_add_history}, {"stop", l_stop}, {"drain", l_drain}, {"clear", l_clear},
    {"guard", l_guard}, {"unguard", l_unguard}, {NULL, NULL}
  };
  luaL_newlib(L, fns);
  return 1;
}
