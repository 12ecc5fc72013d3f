/* rt: the runtime — one libuv loop, the objects that live on it, timers, child processes, and the
 * run/stop protocol. Signals stop the current run; they never exit the process from here. */
#include "rt.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

struct lemu_rt {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  rt_obj objs;        /* sentinel of the circular list of open objects */
  int nobjs;
  int stop;
  int signal;
  clock_state *clk;
};

const char *lemu_version(void) { return LEMU_VERSION; }

uv_loop_t *rt_loop(lemu_rt *rt) { return &rt->loop; }
clock_state *rt_clock(lemu_rt *rt) { return rt->clk; }

static void on_signal(uv_signal_t *h, int signum) {
  lemu_rt *rt = h->data;
  rt->signal = signum;
  rt->stop = 1;
  uv_stop(&rt->loop);
}

lemu_rt *lemu_rt_new(const char **err) {
  lemu_rt *rt = calloc(1, sizeof *rt);
  if (!rt) { *err = "out of memory"; return NULL; }
  if (uv_loop_init(&rt->loop) != 0) { free(rt); *err = "libuv could not create a loop"; return NULL; }
  rt->objs.next = rt->objs.prev = &rt->objs;
  uv_signal_init(&rt->loop, &rt->sigint);
  uv_signal_init(&rt->loop, &rt->sigterm);
  rt->sigint.data = rt->sigterm.data = rt;
  uv_signal_start(&rt->sigint, on_signal, SIGINT);
  uv_signal_start(&rt->sigterm, on_signal, SIGTERM);
  /* Signal watchers alone must not keep a run going. */
  uv_unref((uv_handle_t *)&rt->sigint);
  uv_unref((uv_handle_t *)&rt->sigterm);
  rt->clk = clock_new(rt);
  if (!rt->clk) {
    uv_close((uv_handle_t *)&rt->sigint, NULL);
    uv_close((uv_handle_t *)&rt->sigterm, NULL);
    uv_run(&rt->loop, UV_RUN_DEFAULT);
    uv_loop_close(&rt->loop);
    free(rt);
    *err = "out of memory";
    return NULL;
  }
  return rt;
}

void rt_obj_add(lemu_rt *rt, rt_obj *o, const rt_objtype *type) {
  o->type = type;
  o->rt = rt;
  o->closing = 0;
  o->next = &rt->objs;
  o->prev = rt->objs.prev;
  rt->objs.prev->next = o;
  rt->objs.prev = o;
  rt->nobjs++;
}

void rt_obj_del(rt_obj *o) {
  if (!o->next) return;
  o->prev->next = o->next;
  o->next->prev = o->prev;
  o->next = o->prev = NULL;
  o->rt->nobjs--;
}

int rt_obj_close(rt_obj *o) {
  if (o->closing) return 0;
  o->closing = 1;
  o->type->close(o);
  return 1;
}

int rt_obj_count(const lemu_rt *rt) { return rt->nobjs; }

void lemu_rt_free(lemu_rt *rt) {
  if (!rt) return;
  /* Close newest first: later objects may depend on earlier ones (a backend on its VLAN). A close
   * may close others, so restart from the tail each time. */
  for (;;) {
    rt_obj *o = rt->objs.prev;
    while (o != &rt->objs && o->closing) o = o->prev;
    if (o == &rt->objs) break;
    rt_obj_close(o);
  }
  uv_close((uv_handle_t *)&rt->sigint, NULL);
  uv_close((uv_handle_t *)&rt->sigterm, NULL);
  clock_close(rt->clk);
  /* Let every pending close callback run. */
  while (uv_run(&rt->loop, UV_RUN_DEFAULT) != 0) {}
  if (rt->nobjs != 0) log_error("rt", "%d objects still open after closing the runtime", rt->nobjs);
  if (uv_loop_close(&rt->loop) != 0) log_error("rt", "libuv loop still has open handles at exit");
  clock_free(rt->clk);
  free(rt);
}

enum lemu_run_result lemu_rt_run(lemu_rt *rt, int (*until)(void *ud), void *ud) {
  rt->signal = 0;
  for (;;) {
    if (until && until(ud)) return LEMU_RUN_DONE;
    if (rt->stop) {
      rt->stop = 0;
      return rt->signal ? LEMU_RUN_SIGNAL : LEMU_RUN_STOPPED;
    }
    if (uv_run(&rt->loop, UV_RUN_ONCE) == 0) {
      if (until && until(ud)) return LEMU_RUN_DONE;
      if (rt->stop) continue;
      return LEMU_RUN_IDLE;
    }
  }
}

void lemu_rt_stop(lemu_rt *rt) {
  rt->stop = 1;
  uv_stop(&rt->loop);
}

int lemu_rt_signal(const lemu_rt *rt) { return rt->signal; }

uint64_t lemu_rt_now_ns(const lemu_rt *rt) { return clock_now(rt); }

/* ---- timers ---- */

struct lemu_timer {
  rt_obj obj;
  clock_timer t;
  lemu_timer_cb cb;
  void *ud;
  uint64_t repeat_ns;
};

static void timer_closed(uv_handle_t *h) {
  lemu_timer *t = ((clock_timer *)h->data)->data;
  rt_obj_del(&t->obj);
  free(t);
}

static void timer_close(rt_obj *o) {
  lemu_timer *t = (lemu_timer *)o;
  clock_timer_close(&t->t, timer_closed);
}

static const rt_objtype timer_type = {"timer", timer_close};

static void timer_fire(clock_timer *ct) {
  lemu_timer *t = ct->data;
  /* Re-armed before the callback, which may stop or close it. */
  if (t->repeat_ns) clock_timer_start(&t->t, t->repeat_ns);
  t->cb(t, t->ud);
}

static lemu_timer *timer_new(lemu_rt *rt, lemu_timer_cb cb, void *ud, int wall) {
  lemu_timer *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  if (wall) clock_timer_init_wall(rt, &t->t, timer_fire, t);
  else clock_timer_init(rt, &t->t, timer_fire, t);
  t->cb = cb;
  t->ud = ud;
  rt_obj_add(rt, &t->obj, &timer_type);
  return t;
}

lemu_timer *lemu_timer_new(lemu_rt *rt, lemu_timer_cb cb, void *ud) { return timer_new(rt, cb, ud, 0); }
lemu_timer *rt_wall_timer_new(lemu_rt *rt, lemu_timer_cb cb, void *ud) { return timer_new(rt, cb, ud, 1); }

void lemu_timer_start(lemu_timer *t, uint64_t delay_ms, uint64_t repeat_ms) {
  t->repeat_ns = repeat_ms * 1000000ull;
  clock_timer_start(&t->t, delay_ms * 1000000ull);
}

void lemu_timer_stop(lemu_timer *t) { clock_timer_stop(&t->t); }

void lemu_timer_close(lemu_timer *t) { rt_obj_close(&t->obj); }

/* ---- child processes ---- */

struct lemu_proc {
  rt_obj obj;
  uv_process_t h;
  lemu_proc_exit_cb cb;
  void *ud;
  int exited;
  int closed_by_user;
};

static void proc_closed(uv_handle_t *h) {
  lemu_proc *p = h->data;
  rt_obj_del(&p->obj);
  free(p);
}

static void proc_close(rt_obj *o) {
  lemu_proc *p = (lemu_proc *)o;
  p->cb = NULL;
  uv_close((uv_handle_t *)&p->h, proc_closed);
}

static const rt_objtype proc_type = {"process", proc_close};

static void proc_exit(uv_process_t *h, int64_t status, int sig) {
  lemu_proc *p = h->data;
  p->exited = 1;
  if (p->cb) p->cb(p, status, sig, p->ud);
}

lemu_proc *lemu_proc_spawn(lemu_rt *rt, const char *const *argv, const char *cwd, int flags,
                           lemu_proc_exit_cb cb, void *ud, char *err, int errlen) {
  lemu_proc *p = calloc(1, sizeof *p);
  if (!p) { snprintf(err, errlen, "out of memory"); return NULL; }
  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  for (int i = 1; i < 3; i++) {
    stdio[i].flags = (flags & LEMU_PROC_QUIET) ? UV_IGNORE : UV_INHERIT_FD;
    stdio[i].data.fd = i;
  }
  uv_process_options_t o;
  memset(&o, 0, sizeof o);
  o.file = argv[0];
  o.args = (char **)argv;
  o.cwd = cwd;
  o.exit_cb = proc_exit;
  o.stdio = stdio;
  o.stdio_count = 3;
  p->h.data = p;
  p->cb = cb;
  p->ud = ud;
  int r = uv_spawn(&rt->loop, &p->h, &o);
  if (r != 0) {
    snprintf(err, errlen, "cannot run '%s': %s", argv[0], uv_strerror(r));
    /* uv_spawn initialised the handle even on failure: it must still be closed. */
    rt_obj_add(rt, &p->obj, &proc_type);
    rt_obj_close(&p->obj);
    return NULL;
  }
  rt_obj_add(rt, &p->obj, &proc_type);
  return p;
}

int lemu_proc_pid(const lemu_proc *p) { return p->h.pid; }

int lemu_proc_kill(lemu_proc *p, int signum) {
  if (p->exited) return UV_ESRCH;
  return uv_process_kill(&p->h, signum);
}

void lemu_proc_close(lemu_proc *p) { rt_obj_close(&p->obj); }
